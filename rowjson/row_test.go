package rowjson

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// One renderer for every dead-letter row: keys in schema order, no line
// end, nulls as null, non-finite floats as strings (JSON has no NaN, and
// null would hide that the value was there), timestamps in RFC 3339 UTC,
// strings escaped so that the object is valid JSON on one line.
func TestAppendRow(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a\"b\n\u2028", ""}, []bool{true, false})
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{-7, 1 << 62}, nil)
	b.Field(2).(*array.Float64Builder).AppendValues([]float64{math.NaN(), 0.1}, nil)
	b.Field(3).(*array.BooleanBuilder).AppendValues([]bool{true, false}, nil)
	ts := time.Date(2026, 11, 22, 4, 50, 48, 123456000, time.UTC)
	b.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(ts.UnixMicro()), 0}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	for i, want := range []string{
		`{"s":"a\"b\n\u2028","i":-7,"f":"NaN","b":true,"ts":"2026-11-22T04:50:48.123456Z"}`,
		`{"s":null,"i":4611686018427387904,"f":0.1,"b":false,"ts":"1970-01-01T00:00:00Z"}`,
	} {
		got := string(AppendRow(nil, rec, i))
		if got != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, want)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Errorf("row %d is not JSON: %v", i, err)
		}
	}
}

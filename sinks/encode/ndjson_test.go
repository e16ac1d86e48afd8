package encode

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

// row is one row of allTypes; a nil field is a null.
type row struct {
	s  *string
	i  *int64
	f  *float64
	b  *bool
	ts *int64
}

func p[T any](v T) *T { return &v }

func buildRecord(t testing.TB, mem memory.Allocator, rows []row) arrow.RecordBatch {
	t.Helper()
	rb := array.NewRecordBuilder(mem, allTypes)
	defer rb.Release()
	for _, r := range rows {
		appendOr(rb.Field(0), r.s, func(v string) { rb.Field(0).(*array.StringBuilder).Append(v) })
		appendOr(rb.Field(1), r.i, func(v int64) { rb.Field(1).(*array.Int64Builder).Append(v) })
		appendOr(rb.Field(2), r.f, func(v float64) { rb.Field(2).(*array.Float64Builder).Append(v) })
		appendOr(rb.Field(3), r.b, func(v bool) { rb.Field(3).(*array.BooleanBuilder).Append(v) })
		appendOr(rb.Field(4), r.ts, func(v int64) { rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(v)) })
	}
	return rb.NewRecordBatch()
}

func appendOr[T any](b array.Builder, v *T, app func(T)) {
	if v == nil {
		b.AppendNull()
		return
	}
	app(*v)
}

func TestNDJSONRows(t *testing.T) {
	us := time.Date(2026, 11, 22, 4, 50, 48, 123456789, time.UTC).UnixMicro()
	tests := []struct {
		row  row
		want string
	}{
		{row{p("hello"), p(int64(42)), p(19.99), p(true), p(us)},
			`{"s":"hello","i":42,"f":19.99,"b":true,"ts":"2026-11-22T04:50:48.123456Z"}`},
		{row{}, `{"s":null,"i":null,"f":null,"b":null,"ts":null}`},
		{row{s: p(""), i: p(int64(math.MinInt64)), f: p(math.Copysign(0, -1)), b: p(false), ts: p(int64(0))},
			`{"s":"","i":-9223372036854775808,"f":-0,"b":false,"ts":"1970-01-01T00:00:00.000000Z"}`},
		{row{s: p("q\"b\\s/\n\r\t\b\f\x00\x1f\x7f<>&"), i: p(int64(math.MaxInt64))},
			`{"s":"q\"b\\s/\n\r\t\b\f\u0000\u001f` + "\x7f" + `<>&","i":9223372036854775807,"f":null,"b":null,"ts":null}`},
		{row{s: p("é€😀 日本 \u2028\u2029 \ufeff")}, `{"s":"é€😀 日本 \u2028\u2029 ` + "\ufeff" + `","i":null,"f":null,"b":null,"ts":null}`},
		{row{s: p("a\xffb\xed\xa0\x80c")}, `{"s":"a\ufffdb\ufffd\ufffd\ufffdc","i":null,"f":null,"b":null,"ts":null}`},
		{row{f: p(math.NaN())}, `{"s":null,"i":null,"f":null,"b":null,"ts":null}`},
		{row{f: p(math.Inf(-1))}, `{"s":null,"i":null,"f":null,"b":null,"ts":null}`},
		{row{f: p(1e21)}, `{"s":null,"i":null,"f":1e+21,"b":null,"ts":null}`},
		{row{f: p(1e20)}, `{"s":null,"i":null,"f":100000000000000000000,"b":null,"ts":null}`},
		{row{f: p(1e-7)}, `{"s":null,"i":null,"f":1e-7,"b":null,"ts":null}`},
		{row{f: p(5e-324)}, `{"s":null,"i":null,"f":5e-324,"b":null,"ts":null}`},
		{row{f: p(tenth + 0.2)}, `{"s":null,"i":null,"f":0.30000000000000004,"b":null,"ts":null}`},
		{row{ts: p(int64(-1))}, `{"s":null,"i":null,"f":null,"b":null,"ts":"1969-12-31T23:59:59.999999Z"}`},
		{row{ts: p(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())}, `{"s":null,"i":null,"f":null,"b":null,"ts":"0001-01-01T00:00:00.000000Z"}`},
		{row{ts: p(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro())}, `{"s":null,"i":null,"f":null,"b":null,"ts":"9999-12-31T23:59:59.999999Z"}`},
		{row{ts: p(time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC).UnixMicro())}, `{"s":null,"i":null,"f":null,"b":null,"ts":"2000-02-29T12:00:00.000000Z"}`},
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rows := make([]row, len(tests))
	for i, tt := range tests {
		rows[i] = tt.row
	}
	rec := buildRecord(t, mem, rows)
	defer rec.Release()
	e, err := NewNDJSON(allTypes)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		got := string(e.AppendRow(nil, rec, i))
		if got != tt.want+"\n" {
			t.Errorf("row %d:\n got  %s\n want %s", i, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("row %d is not valid JSON: %s", i, got)
		}
	}
	// AppendRow appends: earlier content is kept.
	if got := string(e.AppendRow([]byte("x"), rec, 1)); got != "x"+tests[1].want+"\n" {
		t.Errorf("append to non-empty buffer: %q", got)
	}
}

func TestNDJSONKeysEscaped(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "a\"b\n\u2028", Type: arrow.PrimitiveTypes.Int64}}, nil)
	e, err := NewNDJSON(schema)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.Append(1)
	arr := b.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{arr}, 1)
	arr.Release()
	b.Release()
	defer rec.Release()
	if got, want := string(e.AppendRow(nil, rec, 0)), `{"a\"b\n\u2028":1}`+"\n"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestNewNDJSONRejects(t *testing.T) {
	for _, tt := range []struct {
		typ  arrow.DataType
		want string
	}{
		{arrow.PrimitiveTypes.Int32, `encode: column 1 "x": type int32 is not supported`},
		{arrow.BinaryTypes.LargeString, `type large_utf8 is not supported`},
		{arrow.BinaryTypes.Binary, `type binary is not supported`},
		{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, `encode: column 1 "x": timestamp unit ns, want us`},
		{arrow.ListOf(arrow.PrimitiveTypes.Int64), `is not supported`},
	} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "ok", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: tt.typ}}, nil)
		_, err := NewNDJSON(schema)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.typ, err, tt.want)
		}
	}
}

// jsonReference is how encoding/json writes a value with HTML escaping off:
// the reference for strings and floats.
func jsonReference(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestStringsAndFloatsMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 100000; i++ {
		f := math.Float64frombits(r.Uint64())
		switch i % 4 {
		case 1:
			f = float64(r.Int64N(1e6)) / float64(r.Int64N(1e4)+1)
		case 2:
			f = math.Ldexp(r.Float64(), r.IntN(2100)-1075)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		if got, want := string(appendFloat(nil, f)), jsonReference(f); got != want {
			t.Fatalf("float %v (%x): got %s, want %s", f, math.Float64bits(f), got, want)
		}
		b := make([]byte, r.IntN(12))
		for j := range b {
			b[j] = byte(r.Uint32())
			if r.IntN(3) == 0 {
				b[j] &= 0x7f
			}
		}
		s := string(b)
		if r.IntN(2) == 0 {
			s = strings.Repeat("\u2028é😀\"\\\x01", r.IntN(3)) + s
		}
		if got, want := string(appendString(nil, s)), jsonReference(s); got != want {
			t.Fatalf("string %q: got %s, want %s", s, got, want)
		}
	}
}

func TestTimestampsMatchTimeFormat(t *testing.T) {
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	r := rand.New(rand.NewPCG(3, 3))
	check := func(us int64) {
		want := `"` + time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z") + `"`
		if got := string(appendTimestamp(nil, us)); got != want {
			t.Fatalf("%d: got %s, want %s", us, got, want)
		}
	}
	for _, us := range []int64{lo, hi, 0, -1, 1, 951782400000000, 4107542400000000, math.MinInt64, math.MaxInt64} {
		check(us)
	}
	for i := 0; i < 200000; i++ {
		check(lo + r.Int64N(hi-lo+1))
	}
}

func TestAppendRowDoesNotAllocate(t *testing.T) {
	rec := buildRecord(t, memory.DefaultAllocator, []row{
		{p("Mozilla/5.0 \"quoted\" \u2028 é"), p(int64(-7)), p(19.99), p(true), p(int64(1795323048123456))},
		{},
	})
	defer rec.Release()
	e, err := NewNDJSON(allTypes)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(1000, func() {
		buf = e.AppendRow(buf[:0], rec, 0)
		buf = e.AppendRow(buf, rec, 1)
	}); n != 0 {
		t.Errorf("%v allocations per row pair, want 0", n)
	}
}

// tenth is a variable so that tenth+0.2 is float64 arithmetic, not an exact
// constant expression.
var tenth = 0.1

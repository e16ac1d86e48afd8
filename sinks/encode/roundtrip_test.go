package encode

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// sourceFields read every type in every format, from nested paths, with
// defaults; names carry characters that need escaping as JSON keys.
var sourceFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: `user "id"`, Type: decode.String, Path: "user.id"},
	{Name: "qty", Type: decode.Int64, Nullable: true},
	{Name: "price", Type: decode.Float64, Nullable: true},
	{Name: "ok", Type: decode.Bool, Nullable: true, Default: ptr("true")},
	{Name: "ts", Type: decode.Timestamp},
	{Name: "tsu", Type: decode.Timestamp, Format: "unix", Nullable: true},
	{Name: "tsm", Type: decode.Timestamp, Format: "unix_ms", Default: ptr("0")},
	{Name: "day", Type: decode.Timestamp, Format: "2006-01-02", Nullable: true},
	{Name: "ключ\u2028", Type: decode.String, Nullable: true},
}

func ptr(s string) *string { return &s }

// lineFields reads back what NDJSON wrote: every column at the top level
// under its name, timestamps as RFC 3339, no defaults.
func lineFields(src []decode.Field) []decode.Field {
	out := make([]decode.Field, len(src))
	for i, f := range src {
		out[i] = decode.Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable}
	}
	return out
}

func randText(r *rand.Rand) string {
	pool := []rune("aZ09 -_/.:\"\\\n\r\t\b\f\x00\x01\x1f\x7féü€日本😀🇩🇪\u2028\u2029\ufeff\ufffd\U0010FFFF")
	var sb strings.Builder
	for n := r.IntN(30); n > 0; n-- {
		sb.WriteRune(pool[r.IntN(len(pool))])
	}
	return sb.String()
}

func randFloat(r *rand.Rand) float64 {
	for {
		f := math.Float64frombits(r.Uint64())
		switch r.IntN(3) {
		case 0:
			f = float64(r.Int64N(1e8)) / 100
		case 1:
			f = math.Ldexp(r.Float64()-0.5, r.IntN(2100)-1075)
		}
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

// randRecord is a JSON click record with random values, some missing or null.
func randRecord(r *rand.Rand) []byte {
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	us := func() int64 { return lo + r.Int64N(hi-lo+1) }
	m := map[string]any{
		"event_id": randText(r),
		"user":     map[string]any{"id": randText(r)},
		"ts":       time.UnixMicro(us()).In(time.FixedZone("", (r.IntN(48)-24)*1800)).Format(time.RFC3339Nano),
	}
	maybe := func(k string, v any) {
		switch r.IntN(5) {
		case 0: // missing
		case 1:
			m[k] = nil
		default:
			m[k] = v
		}
	}
	maybe("qty", []int64{r.Int64(), -r.Int64(), math.MinInt64, math.MaxInt64, 0}[r.IntN(5)])
	maybe("price", randFloat(r))
	maybe("ok", r.IntN(2) == 0)
	maybe("tsu", json.Number(strconv.FormatFloat(float64(us())/1e6, 'f', -1, 64)))
	maybe("tsm", json.Number(strconv.FormatInt(us()/1000, 10)))
	maybe("day", time.UnixMicro(us()).UTC().Format("2006-01-02"))
	maybe("ключ\u2028", randText(r))
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func decodeAll(t testing.TB, d *decode.Decoder, inputs [][]byte) *flow.Batch {
	t.Helper()
	recs := make([]flow.SourceRecord, len(inputs))
	for i, in := range inputs {
		recs[i] = flow.SourceRecord{Data: in, SequenceNumber: strconv.Itoa(i)}
	}
	b, dead := d.Decode("s", recs)
	for _, dl := range dead {
		b.Record.Release()
		t.Fatalf("record %s: %s: %q", dl.SequenceNumber, dl.Reason, dl.Raw)
	}
	return b
}

// TestRoundTrip: JSON → decode → NDJSON → decode gives identical columns.
func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	src, err := decode.New(mem, sourceFields)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Release()
	back, err := decode.New(mem, lineFields(sourceFields))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Release()
	e, err := NewNDJSON(src.Schema())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 13))
	for batch := 0; batch < 50; batch++ {
		inputs := make([][]byte, r.IntN(200))
		for i := range inputs {
			inputs[i] = randRecord(r)
		}
		b1 := decodeAll(t, src, inputs)
		var lines [][]byte
		var buf []byte
		for row := 0; row < b1.Rows(); row++ {
			start := len(buf)
			buf = e.AppendRow(buf, b1.Record, row)
			line := buf[start:]
			if !json.Valid(line) || strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("row %d: bad line %q", row, line)
			}
			lines = append(lines, line[:len(line)-1])
		}
		b2 := decodeAll(t, back, lines)
		assertSameColumns(t, b1.Record, b2.Record)
		b1.Record.Release()
		b2.Record.Release()
	}
}

func assertSameColumns(t testing.TB, a, b arrow.RecordBatch) {
	t.Helper()
	if a.NumRows() != b.NumRows() || a.NumCols() != b.NumCols() {
		t.Fatalf("shape %dx%d vs %dx%d", a.NumRows(), a.NumCols(), b.NumRows(), b.NumCols())
	}
	for i := range a.Columns() {
		ca, cb := a.Column(i), b.Column(i)
		if !array.Equal(ca, cb) {
			t.Fatalf("column %q differs:\n%v\n%v", a.ColumnName(i), ca, cb)
		}
		if fa, ok := ca.(*array.Float64); ok { // Equal says -0 == 0
			fb := cb.(*array.Float64)
			for j := 0; j < fa.Len(); j++ {
				if fa.IsValid(j) && math.Float64bits(fa.Value(j)) != math.Float64bits(fb.Value(j)) {
					t.Fatalf("column %q row %d: %v vs %v", a.ColumnName(i), j, fa.Value(j), fb.Value(j))
				}
			}
		}
	}
}

// ExampleNDJSON packs rows into a buffer, one line each.
func ExampleNDJSON() {
	d, _ := decode.New(memory.DefaultAllocator, []decode.Field{
		{Name: "user_id", Type: decode.String, Path: "user.id"},
		{Name: "ts", Type: decode.Timestamp, Format: "unix_ms"},
		{Name: "price", Type: decode.Float64, Nullable: true},
	})
	defer d.Release()
	b, _ := d.Decode("shard", []flow.SourceRecord{
		{Data: []byte(`{"user":{"id":"u-1"},"ts":1795323048123,"price":19.99}`)},
		{Data: []byte(`{"user":{"id":"line\u2028sep"},"ts":0}`)},
	})
	defer b.Record.Release()

	e, _ := NewNDJSON(d.Schema())
	var buf []byte
	for row := 0; row < b.Rows(); row++ {
		buf = e.AppendRow(buf, b.Record, row)
	}
	fmt.Print(string(buf))
	// Output:
	// {"user_id":"u-1","ts":"2026-11-22T04:50:48.123000Z","price":19.99}
	// {"user_id":"line\u2028sep","ts":"1970-01-01T00:00:00.000000Z","price":null}
}

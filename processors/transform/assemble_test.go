package transform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/transform"
)

func TestAssemblerTakesEveryType(t *testing.T) {
	mem := checked(t)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "t", Type: transform.TimestampType, Nullable: true},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true}, // generic path
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	const n = 9
	for i := range n {
		if i%4 == 3 {
			for _, b := range rb.Fields() {
				b.AppendNull()
			}
			continue
		}
		rb.Field(0).(*array.StringBuilder).Append(strings.Repeat("x", i))
		rb.Field(1).(*array.Int64Builder).Append(int64(i))
		rb.Field(2).(*array.Float64Builder).Append(float64(i) / 2)
		rb.Field(3).(*array.BooleanBuilder).Append(i%2 == 0)
		rb.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(i * 1e6))
		rb.Field(5).(*array.Date32Builder).Append(arrow.Date32(i))
		lb := rb.Field(6).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int32Builder).AppendValues([]int32{int32(i), int32(i)}, nil)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	in := &flow.Batch{Record: rec, Shard: "s", Origins: make([]flow.RowOrigin, n)}
	for i := range in.Origins {
		in.Origins[i].SequenceNumber = string(rune('a' + i))
	}
	out, err := transform.AppendSchema(schema, arrow.Field{Name: "extra", Type: arrow.PrimitiveTypes.Int64})
	if err != nil {
		t.Fatal(err)
	}
	asm := transform.NewAssembler(mem, out, schema.NumFields())
	defer asm.Release()
	for _, rows := range [][]int{{0, 2, 3, 7, 8}, {}, {4, 5, 6}, {1}, nil, {0, 1, 2, 3, 4, 5, 6, 7, 8}} {
		want := rows
		if rows == nil {
			want = []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
		}
		for _, r := range want {
			asm.Appended(0).(*array.Int64Builder).Append(int64(100 + r))
		}
		got := asm.Finish(in, rows)
		if got.Rows() != len(want) || len(got.Origins) != len(want) {
			t.Fatalf("rows %v: %d rows, %d origins", rows, got.Rows(), len(got.Origins))
		}
		for j, r := range want {
			if got.Origins[j] != in.Origins[r] {
				t.Errorf("rows %v: origin %d = %v, want %v", rows, j, got.Origins[j], in.Origins[r])
			}
			for c := range schema.NumFields() {
				if g, w := got.Record.Column(c).ValueStr(j), rec.Column(c).ValueStr(r); g != w {
					t.Errorf("rows %v: column %d row %d = %q, want %q", rows, c, j, g, w)
				}
			}
			if g := got.Record.Column(schema.NumFields()).(*array.Int64).Value(j); g != int64(100+r) {
				t.Errorf("rows %v: extra %d = %d", rows, j, g)
			}
		}
		got.Record.Release()
	}
}

func TestAppendSchemaRejectsCollisions(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := transform.AppendSchema(in, arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}); err == nil || !strings.Contains(err.Error(), `"a" already exists`) {
		t.Errorf("err = %v", err)
	}
	if _, err := transform.AppendSchema(in, arrow.Field{Name: "b"}, arrow.Field{Name: "b"}); err == nil {
		t.Errorf("duplicate appended names accepted")
	}
}

func TestRowJSON(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields,
		`{"event_id":"q\"\\\u0001\u2028é","user_id":"u","page":"p","ts":"2026-11-22T04:50:48.123456Z","price":1e300,"qty":-9007199254740993,"member":false}`,
		`{"event_id":"e","user_id":"u","page":"p","ts":"0001-01-01T00:00:00Z"}`)
	for i, want := range []map[string]any{
		{"event_id": "q\"\\\u0001\u2028é", "user_id": "u", "page": "p", "country": nil, "ts": "2026-11-22T04:50:48.123456Z", "price": 1e300, "qty": json.Number("-9007199254740993"), "member": false},
		{"event_id": "e", "country": nil, "ts": "0001-01-01T00:00:00Z", "price": nil, "qty": nil, "member": nil},
	} {
		raw := transform.AppendRowJSON(nil, in.Record, i)
		if !json.Valid(raw) {
			t.Fatalf("invalid JSON %s", raw)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		for k, w := range want {
			g := got[k]
			if n, ok := g.(json.Number); ok {
				if _, isNum := w.(json.Number); !isNum {
					f, _ := n.Float64()
					g = f
				}
			}
			if g != w {
				t.Errorf("row %d: %s = %#v, want %#v (%s)", i, k, g, w, raw)
			}
		}
	}
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues([]float64{math.NaN(), math.Inf(-1)}, nil)
	arr := b.NewArray()
	defer arr.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "f", Type: arr.DataType()}}, nil), []arrow.Array{arr}, 2)
	defer rec.Release()
	if got := string(transform.AppendRowJSON(nil, rec, 0)) + string(transform.AppendRowJSON(nil, rec, 1)); got != `{"f":"NaN"}{"f":"-Inf"}` {
		t.Errorf("non-finite floats: %s", got)
	}
}

// flaky fails its first calls, then passes its input through.
type flaky struct{ failures, calls atomic.Int32 }

func (f *flaky) Process(_ context.Context, in *flow.Batch) (*flow.Batch, []flow.DeadLetter, error) {
	if f.calls.Add(1) <= f.failures.Load() {
		return nil, nil, errors.New("unavailable")
	}
	in.Record.Retain()
	return &flow.Batch{Record: in.Record, Shard: in.Shard, Origins: in.Origins}, nil, nil
}

func (f *flaky) Close(context.Context) error { return nil }

func TestRetry(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	f := &flaky{}
	f.failures.Store(3)
	var attempts []int
	out, _, err := transform.Retry(context.Background(), f, in, transform.Backoff{Initial: time.Millisecond, Max: 2 * time.Millisecond},
		func(attempt int, err error) { attempts = append(attempts, attempt) })
	if err != nil {
		t.Fatal(err)
	}
	out.Record.Release()
	if !slices.Equal(attempts, []int{1, 2, 3}) || out.Rows() != in.Rows() {
		t.Errorf("attempts %v, rows %d", attempts, out.Rows())
	}

	f.calls.Store(0)
	f.failures.Store(1 << 30)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	out, _, err = transform.Retry(ctx, f, in, transform.Backoff{Initial: time.Millisecond}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || out != nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("Retry past the deadline = %v, %v", out, err)
	}
}

// FuzzRowJSON: any string re-encodes as valid JSON that decodes to what
// encoding/json's own encoding decodes to (invalid UTF-8 becomes U+FFFD).
func FuzzRowJSON(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\u2028\u2029", "\xff\xfe", "é€𝄞"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		defer b.Release()
		b.Append(s)
		arr := b.NewArray()
		defer arr.Release()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: s, Type: arr.DataType()}}, nil), []arrow.Array{arr}, 1)
		defer rec.Release()
		raw := transform.AppendRowJSON(nil, rec, 0)
		var got, want map[string]string
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%q encodes as invalid JSON %s: %v", s, raw, err)
		}
		ref, _ := json.Marshal(map[string]string{s: s})
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || len(want) != 1 || got[s] != want[s] && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q round-trips as %q, encoding/json as %q", s, got, want)
		}
	})
}

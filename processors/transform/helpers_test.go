package transform_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// clickFields is the click-event schema of the decode benchmarks, plus a
// quantity.
var clickFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: "user_id", Type: decode.String},
	{Name: "page", Type: decode.String},
	{Name: "country", Type: decode.String, Nullable: true},
	{Name: "ts", Type: decode.Timestamp},
	{Name: "price", Type: decode.Float64, Nullable: true},
	{Name: "qty", Type: decode.Int64, Nullable: true},
	{Name: "member", Type: decode.Bool, Nullable: true},
}

// decoded decodes JSON records with fields into a batch the test owns
// (released at cleanup), failing on any dead letter.
func decoded(tb testing.TB, mem memory.Allocator, fields []decode.Field, records ...string) *flow.Batch {
	tb.Helper()
	d, err := decode.New(mem, fields)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Release()
	recs := make([]flow.SourceRecord, len(records))
	t0 := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i, r := range records {
		recs[i] = flow.SourceRecord{Data: []byte(r), SequenceNumber: fmt.Sprint(1000 + i), ArrivalTime: t0.Add(time.Duration(i) * time.Second)}
	}
	b, dead := d.Decode("shard-7", recs)
	if len(dead) > 0 {
		b.Record.Release()
		tb.Fatalf("test records do not decode: %+v", dead)
	}
	tb.Cleanup(b.Record.Release)
	return b
}

// checked returns a checked allocator asserting at cleanup that everything
// allocated from it was freed. Register it before anything that allocates
// so that its check runs last.
func checked(tb testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tb.Cleanup(func() { mem.AssertSize(tb, 0) })
	return mem
}

// column returns column name of b as strings (Arrow's ValueStr; "(null)"
// for nulls).
func column(tb testing.TB, b *flow.Batch, name string) []string {
	tb.Helper()
	idx := b.Record.Schema().FieldIndices(name)
	if len(idx) != 1 {
		tb.Fatalf("no column %q in %v", name, b.Record.Schema())
	}
	col := b.Record.Column(idx[0])
	out := make([]string, col.Len())
	for i := range out {
		out[i] = col.ValueStr(i)
	}
	return out
}

func sequences(b *flow.Batch) []string {
	out := make([]string, len(b.Origins))
	for i, o := range b.Origins {
		out[i] = o.SequenceNumber
	}
	return out
}

package window

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode"
)

// BenchmarkOperatorWrite measures the operator's per-row work on the
// reference shape (1-minute tumbling windows by country and page: count,
// sum of price, approximate distinct users), flushes to Redis included:
// one shard, batches of 500 pre-decoded rows.
//
//	go test -run '^$' -bench OperatorWrite -benchmem ./processors/window/
func BenchmarkOperatorWrite(b *testing.B) {
	env := testenv.Load(b)
	client, prefix := env.Redis(b)
	evs := generateUsers(200_000, 1, 7, 50_000)
	dec, err := decode.New(memory.DefaultAllocator, clickFields)
	if err != nil {
		b.Fatal(err)
	}
	var bs []*flow.Batch
	for i := 0; i < len(evs); i += 500 {
		recs := make([]flow.SourceRecord, 0, 500)
		for _, e := range evs[i:min(i+500, len(evs))] {
			recs = append(recs, flow.SourceRecord{Data: e.AppendJSON(nil), SequenceNumber: e.seq})
		}
		batch, _ := dec.Decode(evs[i].shard, recs)
		bs = append(bs, batch)
	}
	schema := dec.Schema()
	dec.Release()
	b.ResetTimer()
	b.ReportAllocs()
	rows := 0
	for n := 0; n < b.N; n++ {
		op, err := New(Options{
			Pipeline: "bench", Name: fmt.Sprintf("w%d", n), Schema: schema, TimeColumn: "ts", Size: time.Minute,
			GroupBy: []string{"country", "page"}, MaxOutOfOrderness: 30 * time.Second,
			Aggregates: []Aggregate{{Name: "clicks", Func: Count}, {Name: "revenue", Func: Sum, Column: "price"},
				{Name: "users", Func: CountDistinct, Column: "user_id"}},
			FlushInterval: time.Hour, FlushRows: 50_000, Redis: client, KeyPrefix: prefix,
		})
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range bs {
			if err := op.Write(context.Background(), batch, func(error) {}); err != nil {
				b.Fatal(err)
			}
			rows += batch.Rows()
		}
		if err := op.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

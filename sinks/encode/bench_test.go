package encode

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// BenchmarkNDJSON encodes decoded click events (the reference workload) into
// one reused buffer, as an output packing Firehose records does.
func BenchmarkNDJSON(b *testing.B) {
	const rows = 1000
	d, err := decode.New(memory.NewGoAllocator(), []decode.Field{
		{Name: "event_id", Type: decode.String},
		{Name: "user_id", Type: decode.String},
		{Name: "page", Type: decode.String},
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "ts", Type: decode.Timestamp},
		{Name: "price", Type: decode.Float64, Nullable: true},
		{Name: "user_agent", Type: decode.String, Nullable: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Release()
	recs := make([]flow.SourceRecord, rows)
	for i := range recs {
		recs[i].Data = fmt.Appendf(nil, `{"event_id":"6f1c%04x-9a2b-4c3d-8e4f-%012x","user_id":"u-%05d","page":"/products/%d",`+
			`"country":"DE","ts":"2026-11-22T04:50:%02d.%03dZ","price":%d.99,`+
			`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"}`,
			i%65536, i, i%100000, i%1000, i%60, i%1000, i%100)
	}
	batch, dead := d.Decode("shard-0", recs)
	if len(dead) != 0 {
		b.Fatal(dead[0].Reason)
	}
	defer batch.Record.Release()
	e, err := NewNDJSON(d.Schema())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1<<20)
	for row := range rows {
		buf = e.AppendRow(buf, batch.Record, row)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		buf = buf[:0]
		for row := range rows {
			buf = e.AppendRow(buf, batch.Record, row)
		}
	}
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * rows
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
}

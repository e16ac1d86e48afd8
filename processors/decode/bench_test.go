package decode

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

// clickFields is the reference click-event schema of the benchmarks.
var clickFields = []Field{
	{Name: "event_id", Type: String},
	{Name: "user_id", Type: String},
	{Name: "page", Type: String},
	{Name: "country", Type: String, Nullable: true},
	{Name: "ts", Type: Timestamp},
	{Name: "price", Type: Float64, Nullable: true},
	{Name: "user_agent", Type: String, Nullable: true},
}

// clickRecord is a ~300-byte click event like the ones the producer sends.
func clickRecord(i int) string {
	return fmt.Sprintf(`{"event_id":"6f1c%04x-9a2b-4c3d-8e4f-%012x","user_id":"u-%05d","page":"/products/%d",`+
		`"country":"DE","ts":"2026-11-22T04:50:%02d.%03dZ","price":%d.99,`+
		`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"}`,
		i%65536, i, i%100000, i%1000, i%60, i%1000, i%100)
}

func clickRecords(n int) []flow.SourceRecord {
	recs := make([]flow.SourceRecord, n)
	t0 := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i := range recs {
		recs[i] = flow.SourceRecord{
			Data:           []byte(clickRecord(i)),
			SequenceNumber: fmt.Sprintf("4960%052d", i),
			ArrivalTime:    t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return recs
}

// BenchmarkDecode measures whole Decode calls (one KCL batch each); per-batch
// costs (the Origins slice, the record's arrays) are amortised over its rows.
func BenchmarkDecode(b *testing.B) {
	for _, rows := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			d, err := New(memory.NewGoAllocator(), clickFields)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Release()
			recs := clickRecords(rows)
			var size int
			for _, r := range recs {
				size += len(r.Data)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				batch, dead := d.Decode("shard-0", recs)
				if len(dead) != 0 || batch.Rows() != rows {
					b.Fatalf("%d rows, dead letters %v", batch.Rows(), dead)
				}
				batch.Record.Release()
			}
			runtime.ReadMemStats(&ms1)
			n := float64(b.N) * float64(rows)
			b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
		})
	}
}

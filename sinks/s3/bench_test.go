package s3_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// BenchmarkWrite compares the two modes on the same 500-row batches into
// an in-process gofakes3: at-least-once (rows encoded as they come) and
// exactly-once (canonical 4,096-row chunks, commits with manifest and
// head). ns/op is per batch; rows/s is reported.
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []string{"at-least-once", "exactly-once"} {
		b.Run(mode, func(b *testing.B) {
			f := newFakeS3(b)
			rows := seqRows(rand.New(rand.NewPCG(1, 1)), 500*64, time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), time.Millisecond)
			batches := make([]*flow.Batch, 64)
			for i := range batches {
				batches[i] = batch(b, memory.DefaultAllocator, rows[i*500:(i+1)*500])
			}
			b.Cleanup(func() {
				for _, bt := range batches {
					bt.Record.Release()
				}
			})
			o, err := s3out.New(s3out.Options{Client: f.client, Bucket: fakeBucket, Prefix: "bench/", Name: "b", Schema: testSchema,
				ExactlyOnce: mode == "exactly-once", RollRecords: 100_000, RollBytes: 8 << 20, RollInterval: time.Hour,
				PartSize: s3out.MinPartSize, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt := batches[i%len(batches)]
				if mode == "exactly-once" && i%len(batches) == 0 && i > 0 {
					// The same rows again would be skipped: start a new shard.
					shard := fmt.Sprintf("shardId-%012d", i/len(batches))
					for _, x := range batches {
						x.Shard = shard
					}
				}
				if err := o.Write(context.Background(), bt, func(error) {}); err != nil {
					b.Fatal(err)
				}
			}
			if err := o.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

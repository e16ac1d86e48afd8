package enrich_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
)

// clickFields and clickRecord are the reference click event of the decode
// benchmarks (processors/decode/bench_test.go).
var clickFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: "user_id", Type: decode.String},
	{Name: "page", Type: decode.String},
	{Name: "country", Type: decode.String, Nullable: true},
	{Name: "ts", Type: decode.Timestamp},
	{Name: "price", Type: decode.Float64, Nullable: true},
	{Name: "user_agent", Type: decode.String, Nullable: true},
}

func clickRecords(n int) []flow.SourceRecord {
	recs := make([]flow.SourceRecord, n)
	t0 := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i := range recs {
		recs[i] = flow.SourceRecord{
			Data: fmt.Appendf(nil, `{"event_id":"6f1c%04x-9a2b-4c3d-8e4f-%012x","user_id":"u-%05d","page":"/products/%d",`+
				`"country":"DE","ts":"2026-11-22T04:50:%02d.%03dZ","price":%d.99,`+
				`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"}`,
				i%65536, i, i%100000, i%1000, i%60, i%1000, i%100),
			SequenceNumber: fmt.Sprintf("4960%052d", i),
			ArrivalTime:    t0.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return recs
}

var benchSizes = []int{100, 1000, 10000}

// benchSetup seeds one hash per user of the largest batch and returns a
// lookup over the click schema, its cache warmed by one batch when warm.
func benchSetup(b *testing.B, mem memory.Allocator, d *decode.Decoder, recs []flow.SourceRecord, cacheTTL time.Duration) *enrich.RedisLookup {
	rdb, prefix := redisFor(b)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range benchSizes[len(benchSizes)-1] {
		pipe.HSet(ctx, fmt.Sprintf("%suser:u-%05d", prefix, i), "tier", []string{"gold", "silver", "bronze"}[i%3], "score", i)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	l, err := enrich.NewRedisLookup(mem, d.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, CacheTTL: cacheTTL,
		Fields: []enrich.Field{{From: "tier", Type: decode.String}, {From: "score", Type: decode.Int64}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close(ctx) })
	in, _ := d.Decode("shard-0", recs)
	defer in.Record.Release()
	out, _, err := l.Process(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	out.Record.Release()
	return l
}

func report(b *testing.B, rows int, ms0 *runtime.MemStats) {
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(rows)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
}

// BenchmarkDecodeEnrich is the path of one KCL batch through decode, a
// Redis lookup (warm cache: every user of the batch cached) and a derive
// over an enriched column.
func BenchmarkDecodeEnrich(b *testing.B) {
	for _, rows := range benchSizes {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			mem := memory.NewGoAllocator()
			d, err := decode.New(mem, clickFields)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Release()
			recs := clickRecords(rows)
			l := benchSetup(b, mem, d, recs, time.Hour)
			e, err := transform.NewExprs(mem, l.Schema(),
				transform.Derive{Name: "net", Type: decode.Float64, Expr: `tier == "gold" ? price * 0.9 : price`})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(context.Background())
			ctx := context.Background()
			trips := l.Stats().RoundTrips
			b.ReportAllocs()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				in, dead := d.Decode("shard-0", recs)
				enriched, _, err := l.Process(ctx, in)
				in.Record.Release()
				if err != nil || len(dead) > 0 {
					b.Fatal(err, dead)
				}
				out, _, err := e.Process(ctx, enriched)
				enriched.Record.Release()
				if err != nil || out.Rows() != rows {
					b.Fatal(err, out.Rows())
				}
				out.Record.Release()
			}
			report(b, rows, &ms0)
			if l.Stats().RoundTrips != trips {
				b.Fatalf("warm cache made %d round trips", l.Stats().RoundTrips-trips)
			}
		})
	}
}

// BenchmarkEnrich is RedisLookup.Process alone on a decoded batch: with a
// warm cache, and with the cache off (one pipelined round trip of one
// HMGET per distinct user each batch).
func BenchmarkEnrich(b *testing.B) {
	for _, cache := range []string{"warm", "off"} {
		for _, rows := range benchSizes {
			b.Run(fmt.Sprintf("cache=%s/rows=%d", cache, rows), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				d, err := decode.New(mem, clickFields)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Release()
				recs := clickRecords(rows)
				ttl := time.Hour
				if cache == "off" {
					ttl = -1
				}
				l := benchSetup(b, mem, d, recs, ttl)
				in, _ := d.Decode("shard-0", recs)
				defer in.Record.Release()
				ctx := context.Background()
				b.ReportAllocs()
				var ms0 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				for b.Loop() {
					out, _, err := l.Process(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					out.Record.Release()
				}
				report(b, rows, &ms0)
			})
		}
	}
}

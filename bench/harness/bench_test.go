package harness

import (
	"context"
	"testing"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
)

// BenchmarkPath measures one shard's batches of 500 reference events through
// each scenario's path on the benchmark goroutine, one batch per iteration
// (ns/op is per batch), cycling over 100,000 events (each pass as a new
// shard). Redis scenarios use a
// private redis-server with a warm lookup cache; redis-cmds/record counts
// every command the server executed while timing.
func BenchmarkPath(b *testing.B) {
	ctx := context.Background()
	env, err := NewEnv(ctx, b.TempDir(), true)
	if err != nil {
		b.Logf("no Redis scenarios: %v", err)
		env, err = NewEnv(ctx, b.TempDir(), false)
		if err != nil {
			b.Fatal(err)
		}
	}
	defer env.Close()
	ds := Generate(workload.Config{Seed: 1, Total: 1_000_000}, 100_000, 500)
	for _, sc := range Scenarios() {
		b.Run(sc.Name, func(b *testing.B) {
			if sc.Redis && env.Redis == nil {
				b.Skip("no redis-server")
			}
			if err := env.ResetWindowState(ctx); err != nil {
				b.Fatal(err)
			}
			p, err := Build(sc.Spec(env))
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			if err := Warm(ctx, p, ds); err != nil {
				b.Fatal(err)
			}
			dec, err := p.NewDecoder()
			if err != nil {
				b.Fatal(err)
			}
			defer dec.Release()
			var cmd0, in0 int64
			if sc.Redis {
				cmd0, _ = env.Redis.Commands(ctx)
				in0, _ = env.Redis.InputBytes(ctx)
			}
			var ackErr error
			ack := flow.Ack(func(err error) { ackErr = err })
			b.ReportAllocs()
			u0 := snapshot()
			i, cycle := 0, 0
			shard := ShardName(0, cycle) // Warm was run 1
			records := 0
			for b.Loop() {
				recs := ds.Batches[i]
				if err := p.Handle(ctx, dec, shard, recs, ack); err != nil || ackErr != nil {
					b.Fatal(err, ackErr)
				}
				records += len(recs)
				if i++; i == len(ds.Batches) {
					// A new shard for each pass over the events: a window
					// would skip a replay of the same shard's records.
					i, cycle = 0, cycle+1
					shard = ShardName(0, cycle)
				}
			}
			u1 := snapshot()
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(records)/(u1.cpu-u0.cpu).Seconds(), "records/cpu-s")
			b.ReportMetric(float64(u1.allocs-u0.allocs)/float64(records), "allocs/record")
			if sc.Redis {
				cmd1, _ := env.Redis.Commands(ctx)
				in1, _ := env.Redis.InputBytes(ctx)
				b.ReportMetric(float64(cmd1-cmd0-2)/float64(records), "redis-cmds/record")
				b.ReportMetric(float64(in1-in0)/float64(records), "redis-bytes/record")
			}
		})
	}
}

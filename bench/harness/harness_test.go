package harness

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
)

// TestRunAccountsForEveryRecord replays 20,000 events over 4 shards through
// decode, the Redis plan join (cold cache) and both encoders, and checks the
// counts Run reports, the Redis commands (one HMGET per distinct user with
// one shard, as INFO commandstats sees them) and that every batch was acked.
func TestRunAccountsForEveryRecord(t *testing.T) {
	ctx := context.Background()
	env, err := NewEnv(ctx, t.TempDir(), true)
	if err != nil {
		// redis-server comes with the local stack (deploy/local/up):
		// missing, it is a failure, never a skip.
		t.Fatalf("start a private redis-server: %v (run make up)", err)
	}
	defer env.Close()
	ds := Generate(workload.Config{Seed: 9, Total: 20_000}, 20_000, 500)
	users := map[string]bool{}
	for _, b := range ds.Batches {
		for _, r := range b {
			users[r.PartitionKey] = true
		}
	}
	var encoded []*Encode
	keep := func(f OutputFunc) OutputFunc {
		return func(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
			o, err := f(mem, in)
			if e, ok := o.(*Encode); ok {
				encoded = append(encoded, e)
			}
			return o, err
		}
	}
	for _, shards := range []int{1, 4} {
		p, err := Build(Spec{Fields: ClickFields, Stages: []StageFunc{RedisPlan(env.Redis.Client, "", 2*Users)},
			Outputs: []OutputFunc{keep(NDJSON), keep(CSV)}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(ctx, p, ds, Load{Shards: shards, Commands: env.Redis.Commands})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d shards: %+v", shards, r)
		if r.Records != 20_000 || r.Rows != 20_000 || r.Dead != 0 || r.Bytes != ds.Bytes {
			t.Errorf("%d shards: records %d rows %d dead %d bytes %d, want 20000 rows of %d bytes", shards, r.Records, r.Rows, r.Dead, r.Bytes, ds.Bytes)
		}
		if shards == 1 && r.Commands != int64(len(users)) {
			t.Errorf("1 shard, cold cache: %d Redis commands, want one HMGET per distinct user (%d)", r.Commands, len(users))
		}
		if shards == 4 && (r.Commands < int64(len(users)) || r.Commands > int64(len(users))*11/10) {
			t.Errorf("4 shards, cold cache: %d Redis commands for %d distinct users", r.Commands, len(users))
		}
	}
	for _, e := range encoded {
		if e.Rows() != 20_000 || e.Bytes() < ds.Bytes/2 {
			t.Errorf("an encoder saw %d rows, %d bytes", e.Rows(), e.Bytes())
		}
	}
}

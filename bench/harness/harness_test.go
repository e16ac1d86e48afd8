package harness

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/window"
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

// TestWindowRunsCountEveryRecord runs the reference window path the way
// the table does (a warm-up pass, then a 2-shard run over the same
// events), then emits every window: the clicks counted must be every
// record of both runs. Replaying the same sequence numbers under the same
// shard ids would make the window skip them as already applied and the
// table measure that skip.
func TestWindowRunsCountEveryRecord(t *testing.T) {
	ctx := context.Background()
	env, err := NewEnv(ctx, t.TempDir(), true)
	if err != nil {
		t.Fatalf("start a private redis-server: %v (run make up)", err)
	}
	defer env.Close()
	const events = 20_000
	ds := Generate(workload.Config{Seed: 5, Total: events}, events, 500)
	clock := time.Now()
	var op *window.Operator
	p, err := Build(Spec{Fields: ClickFields, Stages: []StageFunc{StaticPlan(env.PlanFile)},
		Outputs: []OutputFunc{func(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
			o := ReferenceWindowOptions(env.Redis.Client, mem, in)
			o.Now = func() time.Time { return clock }
			op, err = window.New(o)
			return op, err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if err := Warm(ctx, p, ds); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, p, ds, Load{Shards: 2}); err != nil {
		t.Fatal(err)
	}
	if err := op.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	marks, err := env.Redis.Client.Keys(ctx, WindowKeyPrefix+":win:*:mark").Result()
	if err != nil {
		t.Fatal(err)
	}
	var shards []window.ShardInfo
	for _, k := range marks {
		id := k[strings.LastIndex(k, ":shardId-")+1 : strings.LastIndex(k, "}")]
		shards = append(shards, window.ShardInfo{ID: id})
	}
	if len(shards) != 3 { // the warm-up's shard and the run's two
		t.Fatalf("shards with window state: %v, want 3", shards)
	}
	out := &clickSum{}
	em, err := op.NewEmitter(window.EmitterOptions{Output: out, Holder: "test",
		Shards: func(context.Context) ([]window.ShardInfo, error) { return shards, nil }})
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Minute) // every shard idle: the watermark passes every window
	for range 3 {
		if _, err := em.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if out.clicks != 2*events {
		t.Errorf("windows counted %d clicks, want %d (a warm-up and a run of %d events)", out.clicks, 2*events, events)
	}
}

// clickSum is an Output that sums the window results' clicks column.
type clickSum struct {
	mu     sync.Mutex
	clicks int64
}

func (o *clickSum) Write(_ context.Context, b *flow.Batch, ack flow.Ack) error {
	col := b.Record.Column(b.Record.Schema().FieldIndices("clicks")[0]).(*array.Int64)
	o.mu.Lock()
	for i := range col.Len() {
		o.clicks += col.Value(i)
	}
	o.mu.Unlock()
	ack(nil)
	return nil
}

func (o *clickSum) Close(context.Context) error { return nil }

package window_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/harness"
	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/window"
)

// fakeClock is the operators' and emitter's clock: it moves with the
// simulated arrival of the records, so flushes and emissions happen at
// the rate they would in production without the test taking that long.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countingOutput sums the clicks of the result rows.
type countingOutput struct {
	mu     sync.Mutex
	clicks int64
	rows   int
}

func (o *countingOutput) Write(_ context.Context, b *flow.Batch, ack flow.Ack) error {
	col := b.Record.Column(b.Record.Schema().FieldIndices("clicks")[0]).(*array.Int64)
	o.mu.Lock()
	for i := range col.Len() {
		o.clicks += col.Value(i)
	}
	o.rows += col.Len()
	o.mu.Unlock()
	ack(nil)
	return nil
}

func (o *countingOutput) Close(context.Context) error { return nil }

// The reference window (1-minute tumbling by country and page: count, sum
// of price, distinct users) over 4 busy shards (3,300 records/s each, about
// 1 MB/s, in batches of 500), with the default flush and emit intervals of
// 1 s on a simulated clock: the Redis commands the private redis-server
// (or the 3 primaries of a private cluster) executed (INFO commandstats,
// commands run by scripts included) per input record stay at most 0.01.
func TestRedisCommandsPerRecordReferenceWindow(t *testing.T) {
	ctx := context.Background()
	t.Run("single node", func(t *testing.T) {
		rdb, err := harness.StartRedis(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err) // redis-server is installed by deploy/local/up
		}
		defer rdb.Close()
		commandsPerRecord(t, rdb.Client, func() int64 {
			n, err := rdb.Commands(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n - 1 // the INFO call itself
		})
	})
	// A cluster of 3 primaries: the commands of every primary (the
	// cluster client's own topology reads included).
	t.Run("cluster", func(t *testing.T) {
		pc := testenv.StartPrivateCluster(t)
		cl := pc.Client()
		commandsPerRecord(t, cl, func() int64 {
			var mu sync.Mutex
			var total int64
			err := cl.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
				c, err := harness.CommandCount(ctx, n)
				mu.Lock()
				total += c - 1
				mu.Unlock()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return total
		})
	})
}

// commandsPerRecord runs the reference window on rdb and checks the
// commands count (before and after) says ≤ 0.01 per record.
func commandsPerRecord(t *testing.T, rdb redis.UniversalClient, count func() int64) {
	const shards, perShardRate, batch = 4, 3300, 500
	events := 400_000
	if testing.Short() {
		events = 100_000
	}
	ctx := context.Background()

	fields := []decode.Field{
		{Name: "event_id", Type: decode.String}, {Name: "user_id", Type: decode.String},
		{Name: "page", Type: decode.String}, {Name: "country", Type: decode.String},
		{Name: "ts", Type: decode.Timestamp}, {Name: "price", Type: decode.Float64},
		{Name: "user_agent", Type: decode.String},
	}
	dec, err := decode.New(memory.DefaultAllocator, fields)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	// Events round-robin over the shards, cut into KCL-sized batches.
	gen := workload.New(workload.Config{Seed: 11, Total: events})
	perShard := make([][]flow.SourceRecord, shards)
	for i := range events {
		e := gen.Next()
		s := i % shards
		perShard[s] = append(perShard[s], flow.SourceRecord{Data: e.AppendJSON(nil), SequenceNumber: fmt.Sprintf("4959%020d", len(perShard[s])+1)})
	}
	clock := &fakeClock{now: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	out := &countingOutput{}
	op, err := window.New(window.Options{
		Pipeline: "ref", Name: "per_page", Schema: dec.Schema(), TimeColumn: "ts", Size: time.Minute,
		GroupBy: []string{"country", "page"}, MaxOutOfOrderness: 30 * time.Second, IdleTimeout: 5 * time.Second,
		Aggregates: []window.Aggregate{{Name: "clicks", Func: window.Count}, {Name: "revenue", Func: window.Sum, Column: "price"},
			{Name: "users", Func: window.CountDistinct, Column: "user_id"}},
		Redis: rdb, KeyPrefix: "ref", Now: clock.Now, LateRows: window.LateDrop,
	})
	if err != nil {
		t.Fatal(err)
	}
	infos := make([]window.ShardInfo, shards)
	for i := range infos {
		infos[i] = window.ShardInfo{ID: fmt.Sprintf("shardId-%012d", i)}
	}
	em, err := op.NewEmitter(window.EmitterOptions{Output: out, Holder: "w",
		Shards: func(context.Context) ([]window.ShardInfo, error) { return infos, nil }})
	if err != nil {
		t.Fatal(err)
	}
	before := count()
	var wg sync.WaitGroup
	step := time.Duration(batch) * time.Second / perShardRate // one batch per shard per step
	nextEmit := clock.Now().Add(time.Second)
	for off := 0; off < len(perShard[0]); off += batch {
		for s := range shards {
			recs := perShard[s][off:min(off+batch, len(perShard[s]))]
			b, dead := dec.Decode(infos[s].ID, recs)
			if len(dead) > 0 {
				t.Fatalf("decode: %s", dead[0].Reason)
			}
			wg.Add(1)
			if err := op.Write(ctx, b, func(err error) {
				if err != nil {
					t.Errorf("ack: %v", err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
			b.Record.Release()
		}
		clock.Add(step)
		if !clock.Now().Before(nextEmit) {
			if _, err := em.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			nextEmit = nextEmit.Add(time.Second)
		}
	}
	// Input stops: flush, then let the quiet stream's watermark close the
	// last windows (one emitter cycle per simulated second).
	if err := op.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for range 200 {
		clock.Add(time.Second)
		if _, err := em.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if out.clicks == int64(events) {
			break
		}
	}
	after := count()
	if err := op.Close(ctx); err != nil {
		t.Fatal(err)
	}
	perRecord := float64(after-before) / float64(events)
	t.Logf("%d records, 4 shards at %d records/s each (simulated), flush and emit every 1s: %d Redis commands (INFO commandstats) = %.5f per record; %d result rows, %d clicks counted",
		events, perShardRate, after-before, perRecord, out.rows, out.clicks)
	if out.clicks != int64(events) {
		t.Fatalf("counted %d clicks of %d events (late rows are dropped only if late; none should be with 30s out-of-orderness)", out.clicks, events)
	}
	if perRecord > 0.01 {
		t.Fatalf("%.5f Redis commands per record; want ≤ 0.01", perRecord)
	}
}

package window

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
)

// The flush timer, in a synctest bubble: a batch is applied (and acked)
// once FlushInterval passed after it arrived, without further input, and
// not before.
func TestFlushIntervalAcksWithoutFurtherInput(t *testing.T) {
	env := testenv.Load(t)
	_, prefix := env.Redis(t)
	evs := generate(200, 1, 3)
	synctest.Test(t, func(t *testing.T) {
		opts, err := redis.ParseURL(env.RedisURL)
		if err != nil {
			t.Fatal(err)
		}
		client := redis.NewClient(opts)
		defer client.Close()
		r := newRig(t, client, prefix, 1)
		r.options = func(o *Options) { o.FlushInterval = 5 * time.Second }
		w := r.worker("w", r.out)
		defer w.op.Close(context.Background())
		bs := batches(t, evs, r.shards[0].ID, 200)
		acked := make(chan error, 1)
		if err := w.op.Write(context.Background(), bs[0], func(err error) { acked <- err }); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(4900 * time.Millisecond)
		select {
		case <-acked:
			t.Fatalf("acked after %s, before the 5s flush interval", time.Since(start))
		default:
		}
		// The ticker fires at interval/4: the ack follows within one tick
		// past the interval (plus the real time of one Redis call).
		select {
		case err := <-acked:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("not acked 2s after the flush interval")
		}
		if d := time.Since(start); d < 5*time.Second || d > 6250*time.Millisecond {
			t.Fatalf("acked after %s (fake time), want 5s..6.25s", d)
		}
	})
}

func TestGlobalWatermark(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ms := now.UnixMilli()
	const idle, ooo = time.Minute, 2 * time.Second
	us := func(sec int64) int64 { return sec * 1_000_000 }
	shards := []ShardInfo{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	for _, tc := range []struct {
		name      string
		marks     []shardMark
		firstSeen map[string]time.Time
		want      int64
		ok        bool
	}{
		{"min over active shards", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {hasWM: true, wm: us(50), active: ms}, {hasWM: true, wm: us(70), active: ms},
		}, nil, us(50) - ooo.Microseconds(), true},
		{"idle shard left out", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {hasWM: true, wm: us(50), active: ms - 61_000}, {hasWM: true, wm: us(70), active: ms},
		}, nil, us(70) - ooo.Microseconds(), true},
		{"finished shard left out", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {hasWM: true, wm: us(10), active: ms, finished: true}, {hasWM: true, wm: us(70), active: ms},
		}, nil, us(70) - ooo.Microseconds(), true},
		{"unseen shard holds it back", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {}, {hasWM: true, wm: us(70), active: ms},
		}, map[string]time.Time{"b": now.Add(-30 * time.Second)}, 0, false},
		{"unread shard still holds it after idle timeout", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {}, {hasWM: true, wm: us(70), active: ms},
		}, map[string]time.Time{"b": now.Add(-61 * time.Second)}, 0, false},
		{"unread shard left out after 10 idle timeouts", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {}, {hasWM: true, wm: us(70), active: ms},
		}, map[string]time.Time{"b": now.Add(-601 * time.Second)}, us(70) - ooo.Microseconds(), true},
		{"just leased shard holds it", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {active: ms - 2_000}, {hasWM: true, wm: us(70), active: ms},
		}, map[string]time.Time{"b": now.Add(-601 * time.Second)}, 0, false},
		{"leased shard without rows for idle timeout left out", []shardMark{
			{hasWM: true, wm: us(100), active: ms}, {active: ms - 61_000}, {hasWM: true, wm: us(70), active: ms},
		}, nil, us(70) - ooo.Microseconds(), true},
		{"all quiet: advances with wall time", []shardMark{
			{hasWM: true, wm: us(100), active: ms - 90_000}, {hasWM: true, wm: us(80), active: ms - 70_000}, {finished: true},
		}, nil, us(100) - ooo.Microseconds() + 70_000_000, true},
		{"nothing yet", []shardMark{{}, {}, {}}, map[string]time.Time{"a": now, "b": now, "c": now}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.firstSeen
			if fs == nil {
				fs = map[string]time.Time{}
			}
			got, ok, _ := globalWatermark(now, shards, tc.marks, fs, idle, ooo)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestWindowArithmetic(t *testing.T) {
	op := &Operator{sizeUS: 60_000_000, slideUS: 20_000_000}
	// Windows [k*20s, k*20s+60s): ts 65s is in [20,80), [40,100), [60,120).
	if got := op.earliestEnd(65_000_000); got != 80_000_000 {
		t.Fatalf("earliestEnd(65s) = %d, want 80s", got)
	}
	if got := op.alignedClose(99_000_000); got != 80_000_000 {
		t.Fatalf("alignedClose(99s) = %d, want 80s", got)
	}
	if got := op.alignedClose(100_000_000); got != 100_000_000 {
		t.Fatalf("alignedClose(100s) = %d, want 100s", got)
	}
	if got := op.earliestEnd(-1); got != 0 {
		t.Fatalf("earliestEnd(-1µs) = %d, want 0", got)
	}
	if p := (position{"99", 5}); p.cmp(position{"100", 0}) >= 0 || p.cmp(position{"99", 4}) <= 0 || p.cmp(position{}) <= 0 {
		t.Fatal("position order wrong")
	}
}

// A stopped emitter lets the lock go: another holder takes it at once
// (with a higher fencing token) instead of after the lock's TTL.
func TestEmitterStopReleasesLock(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 1)
	a, b := r.worker("a", r.out), r.worker("b", r.out)
	defer a.op.Close(context.Background())
	defer b.op.Close(context.Background())
	a.emit.eo.LockTTL = time.Hour
	ctx := context.Background()
	if _, err := a.emit.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.emit.Stats(); !s.Holding {
		t.Fatal("a does not hold the lock")
	}
	if _, err := b.emit.RunOnce(ctx); err != nil || b.emit.Stats().Holding {
		t.Fatalf("b took a held lock (err %v)", err)
	}
	a.emit.Start()
	if err := a.emit.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.emit.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if s := b.emit.Stats(); !s.Holding || s.Token <= a.emit.Stats().Token {
		t.Fatalf("after a stopped, b: %+v (a: %+v); want b holding with a higher token", s, a.emit.Stats())
	}
}

package window

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
)

// An emission whose cleanup never ran (the emitter died, or Redis failed,
// right after recording the emission) leaves its windows in the shard's
// window set and their delta lists without an expiry; the next cycle's
// cleanup gives them one, so no delta list stays in Redis for good.
func TestCleanupCatchesUpOnAMissedOne(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 1)
	evs := generate(4_000, 1, 13)
	shard := r.shards[0].ID
	bs := batches(t, evs, shard, 50)
	w := r.worker("worker-a", r.out)
	defer func() { _ = w.op.Close(context.Background()) }()
	ctx := context.Background()

	w.emit.Start()
	feed(t, w.op, bs[:len(bs)/2], time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for w.emit.Stats().Emitted.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("nothing emitted: %+v", w.emit.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.emit.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Undo the cleanup of what was emitted: the lists lose their expiry
	// and their windows are back in the window set.
	keys, err := client.Keys(ctx, w.op.keys.list(shard, 0)[:len(w.op.keys.list(shard, 0))-1]+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var undone []string
	for _, k := range keys {
		if client.PTTL(ctx, k).Val() <= 0 {
			continue // a window not emitted yet
		}
		start, err := strconv.ParseInt(k[strings.LastIndex(k, ":")+1:], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		client.Persist(ctx, k)
		client.ZAdd(ctx, w.op.keys.windows(shard), redis.Z{Score: float64(start + time.Minute.Microseconds()), Member: strconv.FormatInt(start, 10)})
		undone = append(undone, k)
	}
	if len(undone) == 0 {
		t.Fatal("no emitted window's delta list to undo the cleanup of")
	}

	// The rest of the input, and a new emitter: its cleanups expire them.
	w.emit, err = w.op.NewEmitter(EmitterOptions{Output: r.out, Holder: "worker-b", Interval: 10 * time.Millisecond, LockTTL: 500 * time.Millisecond,
		Shards: func(context.Context) ([]ShardInfo, error) { return r.shards, nil }})
	if err != nil {
		t.Fatal(err)
	}
	w.emit.Start()
	defer func() { _ = w.emit.Stop(context.Background()) }()
	feed(t, w.op, bs[len(bs)/2:], time.Millisecond)
	waitEmitted(t, lastWindowEnd(evs), w.emit)
	for _, k := range undone {
		if ttl := client.PTTL(ctx, k).Val(); ttl <= 0 {
			t.Errorf("delta list %s of a window emitted before still has no expiry (%v)", k, ttl)
		}
	}
	t.Logf("%d delta lists whose cleanup was missed got their expiry from a later cycle", len(undone))
}

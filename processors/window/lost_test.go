package window

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
)

// keysUnder lists the keys under prefix.
func keysUnder(t *testing.T, c redis.UniversalClient, prefix string) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// When Redis loses the window's state mid-stream (every key gone, as after
// FLUSHALL or a node restarted without its data), the operator writes
// nothing more — the flush that finds its shard's mark gone fails its
// batches with ErrStateLost instead of starting the shard's state again
// from nothing — and the emitter emits nothing more: emitting from the
// emptied store would write windows with part of their rows under the row
// ids already emitted with all of them.
func TestWindowStateLostStopsFlushesAndEmissions(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 2)
	evs := generate(6_000, 2, 7)
	w := r.worker("worker-a", r.out)
	w.emit.Start()
	defer func() {
		_ = w.emit.Stop(context.Background())
		_ = w.op.Close(context.Background())
	}()
	half := map[string]int{} // shard → batches fed before the loss
	for _, s := range r.shards {
		bs := batches(t, evs, s.ID, 50)
		half[s.ID] = len(bs) / 2
		feed(t, w.op, bs[:half[s.ID]], time.Millisecond)
	}
	// Something is emitted before the loss: the test is about state that
	// existed, not a new application.
	deadline := time.Now().Add(30 * time.Second)
	for w.emit.Stats().Emitted.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("nothing emitted before the loss: %+v", w.emit.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The loss: every key of this operator gone at once.
	keys := keysUnder(t, client, prefix)
	if len(keys) == 0 {
		t.Fatal("no window keys before the loss")
	}
	if err := client.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	// An emission cycle under way read its windows before the loss and
	// may still write them (whole, as they were): count from the end of
	// the next cycle on. (The collector panics if a row id is ever
	// emitted again with other values.)
	for c0 := w.emit.Stats().Cycles; w.emit.Stats().Cycles < c0+2; {
		if time.Now().After(deadline) {
			t.Fatalf("emitter cycles stopped: %+v", w.emit.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.out.mu.Lock()
	rowsBefore := len(r.out.rows)
	emissionsBefore := 0
	for _, n := range r.out.times {
		emissionsBefore += n
	}
	r.out.mu.Unlock()

	// The rest of the input arrives: every batch is acked with
	// ErrStateLost, none with success.
	var mu sync.Mutex
	var okAcks, lostAcks, otherAcks int
	var wg sync.WaitGroup
	for _, s := range r.shards {
		bs := batches(t, evs, s.ID, 50)[half[s.ID]:]
		for _, b := range bs {
			wg.Add(1)
			if err := w.op.Write(context.Background(), b, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					okAcks++
				case errors.Is(err, ErrStateLost):
					lostAcks++
				default:
					otherAcks++
					t.Errorf("ack: %v", err)
				}
				wg.Done()
			}); err != nil && !errors.Is(err, ErrStateLost) {
				t.Fatalf("write after the loss: %v", err)
			} else if err != nil {
				wg.Done() // refused outright: never acked
				mu.Lock()
				lostAcks++
				mu.Unlock()
			}
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("batches after the loss not acked within 30s (ok %d, lost %d)", okAcks, lostAcks)
	}
	// Several flush and emission cycles pass (flush 20 ms, emit 10 ms).
	time.Sleep(500 * time.Millisecond)

	if okAcks != 0 {
		t.Errorf("%d batches acked as applied after the loss (their checkpoints would move)", okAcks)
	}
	if lostAcks == 0 {
		t.Errorf("no batch failed with ErrStateLost")
	}
	if left := keysUnder(t, client, prefix); len(left) != 0 {
		t.Errorf("window keys written to the emptied store: %v", left)
	}
	r.out.mu.Lock()
	emissionsAfter := 0
	for _, n := range r.out.times {
		emissionsAfter += n
	}
	rowsAfter := len(r.out.rows)
	r.out.mu.Unlock()
	if emissionsAfter != emissionsBefore || rowsAfter != rowsBefore {
		t.Errorf("emitted after the loss: %d emissions (%d rows) before, %d (%d rows) after",
			emissionsBefore, rowsBefore, emissionsAfter, rowsAfter)
	}
	// The emitter knows why (stopped first: a cycle of its own must not
	// race its loop).
	if err := w.emit.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.emit.RunOnce(context.Background()); !errors.Is(err, ErrStateLost) {
		t.Errorf("emitter cycle after the loss: %v, want ErrStateLost", err)
	}
	if left := keysUnder(t, client, prefix); len(left) != 0 {
		t.Errorf("window keys written to the emptied store: %v", left)
	}
	t.Logf("before the loss: %d rows emitted; after: %d batches failed with ErrStateLost, 0 keys written, 0 emissions",
		rowsBefore, lostAcks)
}

// A shard's applied mark that moved back (a replica that had not caught up
// promoted, an older snapshot restored) is lost state too: rebuilding from
// the older mark would drop every row between it and where this worker's
// flushes had moved it. The shard's next batches fail with ErrStateLost.
func TestWindowMarkMovedBackIsStateLost(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 1)
	evs := generate(3_000, 1, 11)
	w := r.worker("worker-a", r.out)
	defer func() { _ = w.op.Close(context.Background()) }()
	bs := batches(t, evs, r.shards[0].ID, 50)
	third := len(bs) / 3
	ctx := context.Background()
	feed(t, w.op, bs[:third], time.Millisecond)
	mark := w.op.keys.mark(r.shards[0].ID)
	old, err := client.HGetAll(ctx, mark).Result()
	if err != nil || old["seq"] == "" {
		t.Fatalf("mark after the first third: %v %v", old, err)
	}
	feed(t, w.op, bs[third:2*third], time.Millisecond)
	if now := client.HGet(ctx, mark, "seq").Val(); now == old["seq"] {
		t.Fatalf("mark did not move with the second third")
	}
	// Redis goes back to the older mark (as an older snapshot would).
	if err := client.HSet(ctx, mark, "seq", old["seq"], "sub", old["sub"]).Err(); err != nil {
		t.Fatal(err)
	}
	var lost, ok int
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, b := range bs[2*third:] {
		wg.Add(1)
		err := w.op.Write(ctx, b, func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrStateLost) {
				lost++
			} else if err == nil {
				ok++
			} else {
				t.Errorf("ack: %v", err)
			}
			wg.Done()
		})
		if err != nil {
			wg.Done()
			if !errors.Is(err, ErrStateLost) {
				t.Fatalf("write: %v", err)
			}
			lost++
		}
	}
	wg.Wait()
	if ok != 0 || lost == 0 {
		t.Fatalf("after the mark moved back: %d batches applied, %d failed with ErrStateLost; want 0 and all", ok, lost)
	}
	if got := client.HGet(ctx, mark, "seq").Val(); got != old["seq"] {
		t.Errorf("mark moved to %s after the loss; want it left at %s", got, old["seq"])
	}
}

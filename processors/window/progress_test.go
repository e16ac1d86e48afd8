package window

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/metrics"
)

// progressHooks records WindowProgress calls (the metrics hooks' watermark
// and emitted-through gauges).
type progressHooks struct {
	metrics.Nop
	mu    sync.Mutex
	calls [][2]time.Time
}

func (h *progressHooks) WindowProgress(_ string, wm, emitted time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, [2]time.Time{wm, emitted})
}

func (h *progressHooks) last(t *testing.T) [2]time.Time {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) == 0 {
		t.Fatal("no WindowProgress call")
	}
	return h.calls[len(h.calls)-1]
}

// TestEmitterReportsProgressOnlyWhileHolding: each emission cycle reports
// the watermark and emitted-through time to the hooks — from the emitter
// holding the lock; the other one reports zeros (so adapters drop a stale
// gauge), until it takes the lock over.
func TestEmitterReportsProgressOnlyWhileHolding(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 1)
	ha, hb := &progressHooks{}, &progressHooks{}
	r.options = func(o *Options) { o.Hooks = ha }
	a := r.worker("worker-a", r.out)
	r.options = func(o *Options) { o.Hooks = hb }
	b := r.worker("worker-b", r.out)
	defer a.op.Close(context.Background())
	defer b.op.Close(context.Background())

	evs := generate(500, 1, 3)
	feed(t, a.op, batches(t, evs, r.shards[0].ID, 100), 0)
	ctx := context.Background()
	if _, err := a.emit.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.emit.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if !a.emit.Stats().Holding || b.emit.Stats().Holding {
		t.Fatalf("holding: a %v, b %v; want a only", a.emit.Stats().Holding, b.emit.Stats().Holding)
	}
	got := ha.last(t)
	if got[0].IsZero() || !got[0].Equal(a.emit.Stats().Watermark) {
		t.Errorf("holder reported watermark %v, its stats say %v", got[0], a.emit.Stats().Watermark)
	}
	if got[1] != a.emit.Stats().Emitted {
		t.Errorf("holder reported emitted-through %v, its stats say %v", got[1], a.emit.Stats().Emitted)
	}
	if got := hb.last(t); !got[0].IsZero() || !got[1].IsZero() {
		t.Errorf("non-holder reported %v; want zeros", got)
	}
	// a stops renewing; once its lock expired (the rig's 500 ms TTL) b
	// takes over and reports.
	time.Sleep(700 * time.Millisecond)
	if _, err := b.emit.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hb.last(t); !b.emit.Stats().Holding || got[0].IsZero() {
		t.Errorf("after the takeover b holds %v and reported %v", b.emit.Stats().Holding, got)
	}
}

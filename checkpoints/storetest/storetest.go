package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shardflow/shardflow/checkpoints"
)

// Open returns a fresh, empty store (its own key space or table).
type Open func(t *testing.T) checkpoints.Store

// t0 is the tests' clock origin; times are passed explicitly.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const ttl = 10 * time.Second

// Run runs the whole contract.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		f    func(*testing.T, checkpoints.Store)
	}{
		{"AcquireFreeHeldStale", acquireFreeHeldStale},
		{"ExpiryIsLoss", expiryIsLoss},
		{"CheckpointIsFenced", checkpointIsFenced},
		{"RenewManyAtOnce", renewManyAtOnce},
		{"HandoffReservesForSuccessor", handoffReservesForSuccessor},
		{"ReleaseWithoutSuccessor", releaseWithoutSuccessor},
		{"ShardEndIsFinal", shardEndIsFinal},
		{"HeartbeatsAndView", heartbeatsAndView},
		{"Remove", remove},
		{"ConcurrentAcquireHasOneWinner", concurrentAcquire},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

var ctx = context.Background()

func mustAcquire(t *testing.T, s checkpoints.Store, shard, worker string, now time.Time) checkpoints.Holding {
	t.Helper()
	l, err := s.Acquire(ctx, shard, worker, now, ttl)
	if err != nil {
		t.Fatalf("%s acquires %s: %v", worker, shard, err)
	}
	if l.Owner != worker || l.Token < 1 || !l.Expires.Equal(now.Add(ttl).Truncate(time.Millisecond)) {
		t.Fatalf("%s acquires %s: lease %+v, want owner %s, a token, expiry %s", worker, shard, l, worker, now.Add(ttl))
	}
	return checkpoints.Holding{Shard: shard, Worker: worker, Token: l.Token}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
	var le *checkpoints.LeaseError
	if !errors.As(err, &le) || le.Shard == "" || le.Store == "" {
		t.Fatalf("%s: err %v is not a *checkpoints.LeaseError naming store and shard", what, err)
	}
}

func lease(t *testing.T, s checkpoints.Store, shard string, now time.Time) checkpoints.Lease {
	t.Helper()
	v, err := s.View(ctx, []string{shard}, now)
	if err != nil {
		t.Fatalf("view: %v", err)
	}
	return v.Leases[shard]
}

func acquireFreeHeldStale(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if a.Token != 1 {
		t.Errorf("first token = %d, want 1", a.Token)
	}
	_, err := s.Acquire(ctx, "shard-0", "B", t0.Add(time.Second), ttl)
	wantErr(t, "B acquires A's live lease", err, checkpoints.ErrLeaseHeld)
	// A's own lease from an earlier life (this process does not hold it):
	// a new token fences the old holding off.
	a2 := mustAcquire(t, s, "shard-0", "A", t0.Add(2*time.Second))
	if a2.Token != a.Token+1 {
		t.Errorf("re-acquired token = %d, want %d", a2.Token, a.Token+1)
	}
	err = s.Checkpoint(ctx, a, "100", t0.Add(3*time.Second), ttl)
	wantErr(t, "checkpoint with the old token", err, checkpoints.ErrLeaseLost)
}

func expiryIsLoss(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	at := t0.Add(ttl + time.Millisecond)
	errs := s.Renew(ctx, []checkpoints.Holding{a}, nil, at, ttl)
	wantErr(t, "renewal after expiry, nobody took it", errs[0], checkpoints.ErrLeaseLost)
	err := s.Checkpoint(ctx, a, "100", at, ttl)
	wantErr(t, "checkpoint after expiry", err, checkpoints.ErrLeaseLost)
	b := mustAcquire(t, s, "shard-0", "B", at)
	if b.Token != a.Token+1 {
		t.Errorf("B's token = %d, want %d", b.Token, a.Token+1)
	}
	err = s.Release(ctx, a, "", at, 0)
	wantErr(t, "A releases B's lease", err, checkpoints.ErrLeaseLost)
	if l := lease(t, s, "shard-0", at); l.Owner != "B" {
		t.Errorf("owner after A's late release = %q, want B", l.Owner)
	}
}

func checkpointIsFenced(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if err := s.Checkpoint(ctx, a, "100", t0.Add(time.Second), ttl); err != nil {
		t.Fatal(err)
	}
	// A checkpoint extends the lease.
	if l := lease(t, s, "shard-0", t0); !l.Expires.Equal(t0.Add(time.Second + ttl)) {
		t.Errorf("expiry after checkpoint = %s, want %s", l.Expires, t0.Add(time.Second+ttl))
	}
	late := t0.Add(time.Second + ttl + time.Millisecond)
	l, err := s.Acquire(ctx, "shard-0", "B", late, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if l.Checkpoint != "100" {
		t.Errorf("B starts at checkpoint %q, want 100", l.Checkpoint)
	}
	err = s.Checkpoint(ctx, a, "200", late, ttl)
	wantErr(t, "A checkpoints after B took over", err, checkpoints.ErrLeaseLost)
	if got := lease(t, s, "shard-0", late).Checkpoint; got != "100" {
		t.Errorf("checkpoint = %q after A's refused write, want 100", got)
	}
	if err := s.Checkpoint(ctx, checkpoints.Holding{Shard: "shard-0", Worker: "B", Token: l.Token}, "", late, ttl); err == nil {
		t.Error("empty sequence number accepted")
	}
}

func renewManyAtOnce(t *testing.T, s checkpoints.Store) {
	var held []checkpoints.Holding
	for i := range 3 {
		held = append(held, mustAcquire(t, s, fmt.Sprintf("shard-%d", i), "A", t0))
	}
	// shard-1 expires and goes to B; the others stay A's.
	mustAcquire(t, s, "shard-1", "B", t0.Add(ttl+time.Millisecond))
	at := t0.Add(5 * time.Second)
	errs := s.Renew(ctx, []checkpoints.Holding{held[0], held[2]}, []float64{1500, 0}, at, ttl)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("renew %d: %v", i, err)
		}
	}
	v, err := s.View(ctx, []string{"shard-0", "shard-1", "shard-2"}, at)
	if err != nil {
		t.Fatal(err)
	}
	if l := v.Leases["shard-0"]; !l.Expires.Equal(at.Add(ttl)) || l.Load != 1500 {
		t.Errorf("shard-0 after renewal: %+v, want expiry %s and load 1500", l, at.Add(ttl))
	}
	errs = s.Renew(ctx, held, nil, at, ttl)
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("renewals of held leases: %v", errs)
	}
	wantErr(t, "renewal of the lease B took", errs[1], checkpoints.ErrLeaseLost)
	if got := s.Renew(ctx, nil, nil, at, ttl); len(got) != 0 {
		t.Errorf("Renew of nothing = %v", got)
	}
}

func handoffReservesForSuccessor(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if err := s.Checkpoint(ctx, a, "100", t0, ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.Handoff(ctx, a, "B", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	l := lease(t, s, "shard-0", t0.Add(time.Second))
	if l.Owner != "A" || l.Successor != "B" || l.ReservedFor(t0.Add(time.Second)) != "B" {
		t.Fatalf("lease during handoff: %+v, want owner A, successor B", l)
	}
	_, err := s.Acquire(ctx, "shard-0", "B", t0.Add(time.Second), ttl)
	wantErr(t, "successor acquires before the release", err, checkpoints.ErrLeaseHeld)
	// The owner may still checkpoint while it drains.
	if err := s.Checkpoint(ctx, a, "150", t0.Add(2*time.Second), ttl); err != nil {
		t.Fatalf("checkpoint while handing off: %v", err)
	}
	if err := s.Release(ctx, a, "B", t0.Add(2*time.Second), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = s.Acquire(ctx, "shard-0", "C", t0.Add(3*time.Second), ttl)
	wantErr(t, "another worker acquires a reserved lease", err, checkpoints.ErrLeaseReserved)
	b, err := s.Acquire(ctx, "shard-0", "B", t0.Add(3*time.Second), ttl)
	if err != nil {
		t.Fatalf("successor acquires: %v", err)
	}
	if b.Checkpoint != "150" || b.Token != a.Token+1 || b.Successor != "" {
		t.Errorf("successor's lease %+v, want checkpoint 150, token %d, no successor", b, a.Token+1)
	}
	err = s.Handoff(ctx, a, "C", t0.Add(3*time.Second))
	wantErr(t, "old owner names a successor", err, checkpoints.ErrLeaseLost)

	// A reservation that ran out frees the shard for anyone.
	hb := checkpoints.Holding{Shard: "shard-0", Worker: "B", Token: b.Token}
	if err := s.Release(ctx, hb, "D", t0.Add(4*time.Second), time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "shard-0", "C", t0.Add(5*time.Second+time.Millisecond), ttl); err != nil {
		t.Errorf("acquire after the reservation ended: %v", err)
	}
}

func releaseWithoutSuccessor(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if err := s.Release(ctx, a, "", t0, 0); err != nil {
		t.Fatal(err)
	}
	if l := lease(t, s, "shard-0", t0); l.LiveOwner(t0) != "" || l.ReservedFor(t0) != "" {
		t.Errorf("released lease %+v still owned or reserved", l)
	}
	if _, err := s.Acquire(ctx, "shard-0", "B", t0, ttl); err != nil {
		t.Errorf("acquire at once after a release: %v", err)
	}
	err := s.Renew(ctx, []checkpoints.Holding{a}, nil, t0, ttl)[0]
	wantErr(t, "renewal after release", err, checkpoints.ErrLeaseLost)
}

func shardEndIsFinal(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if err := s.Checkpoint(ctx, a, checkpoints.ShardEnd, t0, ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, a, "", t0, 0); err != nil {
		t.Fatal(err)
	}
	_, err := s.Acquire(ctx, "shard-0", "B", t0, ttl)
	wantErr(t, "acquire an ended shard", err, checkpoints.ErrShardEnded)
}

func heartbeatsAndView(t *testing.T, s checkpoints.Store) {
	for _, w := range []checkpoints.Worker{
		{ID: "A", Expires: t0.Add(ttl)},
		{ID: "B", Expires: t0.Add(ttl), Leaving: true},
		{ID: "C", Expires: t0.Add(-time.Second)}, // expired
	} {
		if err := s.Heartbeat(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	mustAcquire(t, s, "shard-1", "A", t0)
	v, err := s.View(ctx, []string{"shard-0", "shard-1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]checkpoints.Worker{}
	for _, w := range v.Workers {
		got[w.ID] = w
	}
	if len(got) != 2 || !got["B"].Leaving || got["A"].Leaving || !got["A"].Expires.Equal(t0.Add(ttl)) {
		t.Errorf("live workers = %+v, want A and B (leaving)", v.Workers)
	}
	if _, ok := v.Leases["shard-0"]; ok {
		t.Error("a shard never leased has a lease in the view")
	}
	if v.Leases["shard-1"].Owner != "A" {
		t.Errorf("shard-1 = %+v", v.Leases["shard-1"])
	}
	if err := s.RemoveWorker(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if v, _ = s.View(ctx, nil, t0); len(v.Workers) != 1 || v.Workers[0].ID != "B" {
		t.Errorf("after RemoveWorker(A): %+v", v.Workers)
	}
	// A renewed heartbeat replaces the old one.
	if err := s.Heartbeat(ctx, checkpoints.Worker{ID: "B", Expires: t0.Add(2 * ttl)}); err != nil {
		t.Fatal(err)
	}
	if v, _ = s.View(ctx, nil, t0.Add(ttl+time.Second)); len(v.Workers) != 1 || v.Workers[0].Leaving {
		t.Errorf("after B's second heartbeat: %+v", v.Workers)
	}
}

func remove(t *testing.T, s checkpoints.Store) {
	a := mustAcquire(t, s, "shard-0", "A", t0)
	if err := s.Checkpoint(ctx, a, "100", t0, ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "shard-0"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.View(ctx, []string{"shard-0"}, t0); len(v.Leases) != 0 {
		t.Errorf("lease after Remove: %+v", v.Leases)
	}
}

func concurrentAcquire(t *testing.T, s checkpoints.Store) {
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Acquire(ctx, "shard-0", fmt.Sprintf("W%d", i), t0, ttl)
			switch {
			case err == nil:
				mu.Lock()
				winners++
				mu.Unlock()
			case !errors.Is(err, checkpoints.ErrLeaseHeld):
				t.Errorf("W%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d workers acquired one shard at once, want 1", winners)
	}
}

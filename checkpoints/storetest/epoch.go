package storetest

import (
	"errors"
	"testing"

	"github.com/shardflow/shardflow/checkpoints"
)

// Space is one fresh, empty key space (or table) of a store, for the
// epoch contract, which needs more than one store value on it and a way to
// lose its data.
type Space struct {
	// Open returns a new store value on the space, as each worker has its
	// own.
	Open func() checkpoints.Store
	// Empty deletes everything the space holds, as a FLUSHALL or a
	// replaced node would.
	Empty func()
}

// RunEpoch runs the store-epoch contract: the first Bind writes the epoch
// and every later one (any store value) reads it; a store that lost its
// data, or got another epoch since, refuses View and Acquire with
// ErrStoreLost and writes nothing.
func RunEpoch(t *testing.T, space func(t *testing.T) Space) {
	t.Run("BindWritesOnceThenReads", func(t *testing.T) {
		sp := space(t)
		a, b := sp.Open(), sp.Open()
		e1, e2 := checkpoints.NewEpoch(t0), checkpoints.NewEpoch(t0.Add(1))
		got, err := a.Bind(ctx, e1)
		if err != nil || got.ID != e1.ID || !got.Created.Equal(e1.Created) {
			t.Fatalf("first bind = %v, %v; want %v", got, err, e1)
		}
		if got, err := b.Bind(ctx, e2); err != nil || got.ID != e1.ID {
			t.Fatalf("second worker's bind = %v, %v; want the stored %v", got, err, e1)
		}
		if got, err := a.Bind(ctx, e2); err != nil || got.ID != e1.ID {
			t.Fatalf("bind again = %v, %v; want %v", got, err, e1)
		}
		mustAcquire(t, b, "s-1", "w2", t0)
		if _, err := a.View(ctx, []string{"s-1"}, t0); err != nil {
			t.Fatalf("view of a bound, intact store: %v", err)
		}
	})
	t.Run("EmptiedStoreIsLost", func(t *testing.T) {
		sp := space(t)
		s := sp.Open()
		if _, err := s.Bind(ctx, checkpoints.NewEpoch(t0)); err != nil {
			t.Fatal(err)
		}
		h := mustAcquire(t, s, "s-1", "w1", t0)
		if err := s.Checkpoint(ctx, h, "100", t0, ttl); err != nil {
			t.Fatal(err)
		}
		sp.Empty()
		if _, err := s.View(ctx, []string{"s-1"}, t0); !isLost(err) {
			t.Fatalf("view of an emptied store: err = %v, want ErrStoreLost", err)
		}
		_, err := s.Acquire(ctx, "s-1", "w1", t0, ttl)
		wantErr(t, "acquire in an emptied store", err, checkpoints.ErrStoreLost)
		// Nothing was written: a store value that never bound sees no lease.
		if v, err := sp.Open().View(ctx, []string{"s-1"}, t0); err != nil || len(v.Leases) != 0 {
			t.Fatalf("the refused acquisition wrote: leases %v, err %v", v.Leases, err)
		}
	})
	t.Run("ReplacedEpochIsLost", func(t *testing.T) {
		sp := space(t)
		old := sp.Open()
		if _, err := old.Bind(ctx, checkpoints.NewEpoch(t0)); err != nil {
			t.Fatal(err)
		}
		sp.Empty()
		// A worker that starts on the emptied store binds a new epoch (it
		// cannot tell it from a new application) ...
		fresh := sp.Open()
		e, err := fresh.Bind(ctx, checkpoints.NewEpoch(t0.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		mustAcquire(t, fresh, "s-1", "w2", t0)
		// ... but one that was bound to the old epoch does not follow it.
		if _, err := old.View(ctx, []string{"s-1"}, t0); !isLost(err) {
			t.Fatalf("view with the store's epoch replaced by %v: err = %v, want ErrStoreLost", e, err)
		}
		_, err = old.Acquire(ctx, "s-2", "w1", t0, ttl)
		wantErr(t, "acquire with the epoch replaced", err, checkpoints.ErrStoreLost)
	})
	t.Run("UnboundStoreChecksNothing", func(t *testing.T) {
		sp := space(t)
		s := sp.Open()
		mustAcquire(t, s, "s-1", "w1", t0)
		sp.Empty()
		if _, err := s.View(ctx, []string{"s-1"}, t0); err != nil {
			t.Fatalf("view of an unbound store: %v", err)
		}
	})
}

func isLost(err error) bool {
	return err != nil && errors.Is(err, checkpoints.ErrStoreLost)
}

package consumer

import (
	"errors"
	"fmt"
	"sync"
	"time"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"

	"github.com/shardflow/shardflow/checkpoints"
)

// leaseGuard wraps a store so that the consumer learns what the KCL does not
// tell it. When a renewal of a lease this worker held fails, the KCL ends the
// shard's loop without calling Shutdown (no ZOMBIE): the guard reports the
// loss so the shard's processor stops for good. It also remembers each held
// lease's expiry (local clock), so that a worker paused past its lease stops
// handing records over and writes no checkpoint without asking the store.
type leaseGuard struct {
	chk.Checkpointer
	now    func() time.Time
	onLost func(shard string, err error)

	mu     sync.Mutex
	expiry map[string]time.Time
}

func newLeaseGuard(inner chk.Checkpointer, onLost func(string, error)) *leaseGuard {
	return &leaseGuard{Checkpointer: inner, now: time.Now, onLost: onLost, expiry: map[string]time.Time{}}
}

// GetLease acquires or renews; a failed renewal of a held lease is a loss.
func (g *leaseGuard) GetLease(shard *par.ShardStatus, owner string) error {
	// Renewing a lease we held, even one that expired locally while we
	// were paused: its failure is a loss the KCL will not report.
	renewing := shard.GetLeaseOwner() == owner && g.known(shard.ID)
	err := g.Checkpointer.GetLease(shard, owner)
	if err != nil {
		if renewing {
			g.forget(shard.ID)
			g.onLost(shard.ID, fmt.Errorf("lease renewal failed: %w", err))
		}
		return err
	}
	g.mu.Lock()
	g.expiry[shard.ID] = shard.GetLeaseTimeout()
	g.mu.Unlock()
	return nil
}

// CheckpointSequence refuses to write for a lease that expired locally and
// reports a store's ErrLeaseLost as a loss.
func (g *leaseGuard) CheckpointSequence(shard *par.ShardStatus) error {
	if !g.held(shard.ID) {
		return fmt.Errorf("shard %s: lease expired locally: %w", shard.ID, checkpoints.ErrLeaseLost)
	}
	err := g.Checkpointer.CheckpointSequence(shard)
	if errors.Is(err, checkpoints.ErrLeaseLost) {
		g.forget(shard.ID)
		g.onLost(shard.ID, err)
	}
	return err
}

// RemoveLeaseOwner releases a lease; it is no longer held.
func (g *leaseGuard) RemoveLeaseOwner(shardID string) error {
	g.forget(shardID)
	return g.Checkpointer.RemoveLeaseOwner(shardID)
}

func (g *leaseGuard) held(shard string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	exp, ok := g.expiry[shard]
	return ok && g.now().Before(exp)
}

func (g *leaseGuard) known(shard string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.expiry[shard]
	return ok
}

func (g *leaseGuard) forget(shard string) {
	g.mu.Lock()
	delete(g.expiry, shard)
	g.mu.Unlock()
}

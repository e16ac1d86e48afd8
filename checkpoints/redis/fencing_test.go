package redis

import (
	"errors"
	"testing"
	"time"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"

	"github.com/shardflow/shardflow/checkpoints"
)

// TestPausedWorkerIsFenced is notes defect 1: A is paused past its lease, B
// takes the shard and checkpoints further, A resumes. Nothing A does may
// move the checkpoint back or take the lease from B.
func TestPausedWorkerIsFenced(t *testing.T) {
	for _, order := range []string{"checkpoint first", "renewal first"} {
		t.Run(order, func(t *testing.T) {
			f := newFixture(t)
			a, b := f.worker("A"), f.worker("B")
			sa, sb := newShard("shard-0", ""), newShard("shard-0", "")

			mustLease(t, a, sa)
			mustCheckpoint(t, a, sa, "100")

			f.clock.Advance(f.lease + time.Millisecond) // A is stopped: no renewal
			mustLease(t, b, sb)
			mustCheckpoint(t, b, sb, "200")
			mustCheckpoint(t, b, sb, "300")

			// A resumes with the position it had.
			sa.SetCheckpoint("150")
			if order == "renewal first" {
				notAcquired(t, "A's renewal", a.GetLease(sa, "A"), ErrLeaseLost)
			}
			err := a.CheckpointSequence(sa)
			if !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("A's stale checkpoint: %v, want ErrLeaseLost", err)
			}
			if errors.As(err, &chk.ErrLeaseNotAcquired{}) {
				t.Errorf("a checkpoint refusal should not look like GetLease contention: %v", err)
			}
			if order == "checkpoint first" {
				// The lost holding also stops renewal, so the KCL ends
				// A's shard consumer.
				notAcquired(t, "A's renewal", a.GetLease(sa, "A"), ErrLeaseLost)
			}
			if err := a.RemoveLeaseOwner("shard-0"); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("A's release: %v, want ErrLeaseLost", err)
			}

			if got := storedCheckpoint(t, a, "shard-0"); got != "300" {
				t.Fatalf("stored checkpoint = %q, want B's 300", got)
			}
			if owner, err := a.GetLeaseOwner("shard-0"); err != nil || owner != "B" {
				t.Fatalf("owner = %q, %v; want B", owner, err)
			}
			mustLease(t, b, sb) // B's renewal still works
			mustCheckpoint(t, b, sb, "400")
		})
	}
}

// TestExpiryIsLoss: A is paused past its lease and nobody took the shard.
// A must still stop: by the time it resumes another worker may be about to
// take the shard, and a restart from the checkpoint only replays.
func TestExpiryIsLoss(t *testing.T) {
	f := newFixture(t)
	a := f.worker("A")
	s := newShard("shard-0", "")
	mustLease(t, a, s)
	mustCheckpoint(t, a, s, "100")

	f.clock.Advance(f.lease + time.Millisecond)
	s.SetCheckpoint("150")
	if err := a.CheckpointSequence(s); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("checkpoint on an expired lease: %v, want ErrLeaseLost", err)
	}
	notAcquired(t, "renewal after the loss", a.GetLease(s, "A"), ErrLeaseLost)
	if got := storedCheckpoint(t, a, "shard-0"); got != "100" {
		t.Fatalf("stored checkpoint = %q, want 100", got)
	}

	// The KCL ends the consumer and releases; a later acquisition starts
	// a new holding with a new token.
	s.SetLeaseOwner("")
	_ = a.RemoveLeaseOwner("shard-0")
	mustLease(t, a, s)
	if got := f.field(a, "shard-0", "token"); got != "2" {
		t.Fatalf("token = %q, want 2", got)
	}
	mustCheckpoint(t, a, s, "150")
}

// TestRenewalAfterTakeoverAndRelease closes the hole where the shard passed
// through another owner and came back free: A's renewal must not re-take it
// (its position is older than B's checkpoint).
func TestRenewalAfterTakeoverAndRelease(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	sa, sb := newShard("shard-0", ""), newShard("shard-0", "")
	mustLease(t, a, sa)

	f.clock.Advance(f.lease + time.Millisecond)
	mustLease(t, b, sb)
	mustCheckpoint(t, b, sb, "200")
	if err := b.RemoveLeaseOwner("shard-0"); err != nil {
		t.Fatalf("B's release: %v", err)
	}

	notAcquired(t, "A's renewal of a shard B released", a.GetLease(sa, "A"), ErrLeaseLost)
	if owner := f.field(a, "shard-0", "owner"); owner != "" {
		t.Fatalf("owner = %q, want none", owner)
	}
}

// TestReleaseCannotFreeNewOwner: A's late release (its consumer ending
// after the takeover) must leave B's lease alone.
func TestReleaseCannotFreeNewOwner(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	sa, sb := newShard("shard-0", ""), newShard("shard-0", "")
	mustLease(t, a, sa)
	f.clock.Advance(f.lease + time.Millisecond)
	mustLease(t, b, sb)

	if err := a.RemoveLeaseOwner("shard-0"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A's release after takeover: %v, want ErrLeaseLost", err)
	}
	if owner := f.field(b, "shard-0", "owner"); owner != "B" {
		t.Fatalf("owner after A's release = %q, want B", owner)
	}
	mustLease(t, b, sb)
}

// TestCheckpointExtendsLease: a checkpoint is proof of life.
func TestCheckpointExtendsLease(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	s := newShard("shard-0", "")
	mustLease(t, a, s)
	f.clock.Advance(f.lease - time.Millisecond)
	mustCheckpoint(t, a, s, "100")
	if want := f.clock.Now().Add(f.lease); !s.GetLeaseTimeout().Equal(want) {
		t.Fatalf("lease timeout after checkpoint = %v, want %v", s.GetLeaseTimeout(), want)
	}
	f.clock.Advance(f.lease - time.Millisecond) // past the original timeout
	notAcquired(t, "B", b.GetLease(newShard("shard-0", ""), "B"), ErrLeaseHeld)
	mustCheckpoint(t, a, s, chk.ShardEnd) // SHARD_END is an ordinary value
	if got := storedCheckpoint(t, b, "shard-0"); got != chk.ShardEnd {
		t.Fatalf("checkpoint = %q, want SHARD_END", got)
	}
}

func TestCheckpointWithoutLease(t *testing.T) {
	f := newFixture(t)
	a := f.worker("A")
	s := newShard("shard-0", "")
	s.SetCheckpoint("100")
	if err := a.CheckpointSequence(s); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("checkpoint without a lease: %v, want ErrLeaseLost", err)
	}
	if n, _ := f.client.Exists(t.Context(), a.leaseKey("shard-0")).Result(); n != 0 {
		t.Fatal("a refused checkpoint created the lease hash")
	}
	mustLease(t, a, s)
	s.SetCheckpoint("")
	if err := a.CheckpointSequence(s); err == nil {
		t.Fatal("empty sequence number accepted")
	}
}

// TestLeaseLostIsTheSharedSentinel: the consumer tests every store's
// refusals against checkpoints.ErrLeaseLost.
func TestLeaseLostIsTheSharedSentinel(t *testing.T) {
	f := newFixture(t)
	s := newShard("shard-0", "")
	s.SetCheckpoint("100")
	if err := f.worker("A").CheckpointSequence(s); !errors.Is(err, checkpoints.ErrLeaseLost) {
		t.Fatalf("refusal %v is not checkpoints.ErrLeaseLost", err)
	}
}

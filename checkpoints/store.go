package checkpoints

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// ShardEnd is the checkpoint of a shard whose every record is durable and
// that reached its end after a split or merge: its children may start.
const ShardEnd = "SHARD_END"

// Sentinels every Store returns (wrapped, with context) so that callers
// decide with errors.Is whatever the store.
var (
	// ErrLeaseHeld: another worker holds a live lease on the shard.
	ErrLeaseHeld = errors.New("lease held by another worker")
	// ErrLeaseReserved: the shard was handed over to a named successor,
	// which alone may take it until the reservation ends.
	ErrLeaseReserved = errors.New("lease reserved for the named successor")
	// ErrShardEnded: the shard's checkpoint is SHARD_END; nobody reads it
	// again.
	ErrShardEnded = errors.New("shard ended")
	// ErrStoreLost: the store no longer holds the epoch this worker bound
	// (Store.Bind) — it was emptied (FLUSHALL, a node replaced without
	// persistence, a failover to a replica that had not caught up) or
	// replaced. Nothing it holds now can be trusted to continue from: the
	// worker stops reading rather than start again from initial_position.
	ErrStoreLost = errors.New("lease store lost its data")
)

// Epoch identifies one life of an application's store: written once, when
// the application first runs against it, and never changed by shardflow.
// A store whose epoch is gone or different is not the store a worker bound.
type Epoch struct {
	ID      string
	Created time.Time
}

// NewEpoch returns a fresh epoch created at now.
func NewEpoch(now time.Time) Epoch {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return Epoch{ID: hex.EncodeToString(b[:]), Created: now.UTC().Truncate(time.Millisecond)}
}

// String is "<id> (created <RFC 3339>)".
func (e Epoch) String() string {
	return e.ID + " (created " + e.Created.Format(time.RFC3339) + ")"
}

// Lease is one shard's lease and checkpoint as stored.
type Lease struct {
	Shard string
	// Owner is the worker holding the lease; "" when nobody does. An
	// owner whose Expires has passed holds nothing.
	Owner   string
	Expires time.Time
	// Token is the fencing token: it grows by one at every acquisition,
	// and only the holder of the current token may write.
	Token int64
	// Checkpoint is the last checkpointed sequence number, ShardEnd, or ""
	// when the shard was never checkpointed.
	Checkpoint string
	// Successor is the worker the owner hands the shard over to (set when
	// the handoff starts, kept after the release until ReservedUntil).
	Successor     string
	ReservedUntil time.Time
	// Acquired is when the current owner took the lease.
	Acquired time.Time
	// Load is the shard's incoming bytes per second as last measured by
	// an owner (0 when never measured).
	Load float64
}

// LiveOwner is the owner of a lease that has not expired at now, or "".
func (l Lease) LiveOwner(now time.Time) string {
	if l.Owner == "" || l.Expires.Before(now) {
		return ""
	}
	return l.Owner
}

// ReservedFor is the successor the shard is reserved for at now: named by
// a live owner that is handing it over, or by the last owner until
// ReservedUntil. "" when anyone may take the shard once it is free.
func (l Lease) ReservedFor(now time.Time) string {
	if l.Successor == "" {
		return ""
	}
	if l.LiveOwner(now) != "" || !l.ReservedUntil.Before(now) {
		return l.Successor
	}
	return ""
}

// Worker is one worker's heartbeat as stored.
type Worker struct {
	ID string
	// Expires is when the worker counts as gone if it does not heartbeat
	// again.
	Expires time.Time
	// Leaving is set by a worker that drains (SIGTERM): it takes nothing
	// new and hands its shards to the others.
	Leaving bool
}

// View is what a store holds for an application at one moment.
type View struct {
	// Workers are the workers whose heartbeat has not expired, by id.
	Workers []Worker
	// Leases holds the stored lease of every shard asked for that has one.
	Leases map[string]Lease
}

// Holding is a lease a worker acquired: its token fences every write.
type Holding struct {
	Shard  string
	Worker string
	Token  int64
}

// Store keeps an application's leases, checkpoints and worker heartbeats.
// Every write to a lease is conditional on the caller's holding (owner and
// token, lease not expired), so that a worker that lost a lease — paused,
// partitioned, expired — can never write for it again: such a write
// returns ErrLeaseLost and changes nothing.
//
// Times are computed by the caller (the worker's clock, as the KCL does)
// and passed in; a lease whose Expires is before now is expired.
type Store interface {
	// Bind reads the application's epoch, writing epoch (NewEpoch) when
	// the store has none — a new application, or one that ran before
	// stores had epochs — and binds the store value to what it read. From
	// then on View and Acquire fail with ErrStoreLost when the stored
	// epoch is gone or another: a worker never takes a shard of a store
	// that lost its data. Binding again returns the bound epoch.
	Bind(ctx context.Context, epoch Epoch) (Epoch, error)
	// Heartbeat records w (its Expires in the future) and forgets workers
	// whose heartbeat expired long ago.
	Heartbeat(ctx context.Context, w Worker) error
	// RemoveWorker deletes a worker's heartbeat (it stopped).
	RemoveWorker(ctx context.Context, id string) error
	// View reads the live workers and the leases of shards; ErrStoreLost
	// when the store is bound and its epoch changed.
	View(ctx context.Context, shards []string, now time.Time) (View, error)
	// Acquire takes shard's lease for worker until now+ttl with a new token
	// if it is free (no live owner), not ended (ErrShardEnded) and not
	// reserved for another worker (ErrLeaseReserved); ErrLeaseHeld when
	// another worker holds it; ErrStoreLost (nothing written) when the
	// store is bound and its epoch changed. It returns the lease as stored
	// after.
	Acquire(ctx context.Context, shard, worker string, now time.Time, ttl time.Duration) (Lease, error)
	// Renew extends each holding's lease to now+ttl and records its
	// shard's load (bytes/s; loads[i] for held[i], loads may be nil). The
	// result has one error per holding: nil, ErrLeaseLost, or an I/O error.
	Renew(ctx context.Context, held []Holding, loads []float64, now time.Time, ttl time.Duration) []error
	// Checkpoint stores seq (a sequence number or ShardEnd) for a holding
	// and extends its lease to now+ttl.
	Checkpoint(ctx context.Context, h Holding, seq string, now time.Time, ttl time.Duration) error
	// Handoff names the successor a holding's shard goes to; the lease
	// stays the holder's until Release.
	Handoff(ctx context.Context, h Holding, successor string, now time.Time) error
	// Release frees a holding's lease. With a successor, only it may
	// acquire the shard until now+reserve.
	Release(ctx context.Context, h Holding, successor string, now time.Time, reserve time.Duration) error
	// Remove deletes a shard's lease and checkpoint (the shard left the
	// stream).
	Remove(ctx context.Context, shard string) error
	// Name says which store this is and where ("redis sf:{clicks}",
	// "dynamodb table shardflow-clicks"), for logs and errors.
	Name() string
}

// LeaseError gives a store failure its context: the operation, the store,
// the shard and what was found. errors.Is sees Err.
type LeaseError struct {
	Op     string // "acquire", "renew", "checkpoint", "handoff", "release", ...
	Store  string // Store.Name()
	Shard  string
	Detail string // optional: who holds it, until when, ...
	Err    error
}

func (e *LeaseError) Error() string {
	s := "checkpoints: " + e.Op + " " + e.Store + " shard " + e.Shard + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *LeaseError) Unwrap() error { return e.Err }

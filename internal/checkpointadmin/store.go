package checkpointadmin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ShardEnd is the checkpoint of a shard read to its end (the KCL's value).
const ShardEnd = "SHARD_END"

// Lease is one shard's row in a lease store.
type Lease struct {
	Shard string
	// Owner is the worker holding the lease, "" when nobody does.
	Owner string
	// Expires is when the lease ends unless renewed (zero: never leased).
	Expires time.Time
	// Checkpoint is the last checkpointed sequence number, ShardEnd, or ""
	// when the shard has none (it starts at source.initial_position).
	Checkpoint string
	// Parent is the parent shard id, when the store recorded one.
	Parent string

	// rawExpiry is the expiry as the store holds it (DynamoDB: the
	// RFC 3339 text), for a write conditional on it.
	rawExpiry string
}

// Live reports whether a worker holds the lease at now.
func (l Lease) Live(now time.Time) bool {
	return l.Owner != "" && !now.After(l.Expires)
}

// Store reads and rewrites a pipeline's leases and checkpoints.
type Store interface {
	// Kind is "redis" or "dynamodb"; Where names the keys or table.
	Kind() string
	Where() string
	// List returns every lease row, by shard id.
	List(ctx context.Context) ([]Lease, error)
	// SetCheckpoint writes checkpoint for seen.Shard if the lease is still
	// as seen was read, and not live at now unless revoke is set; revoke
	// also fences the lease so its holder can no longer renew or
	// checkpoint. A lease that changed since it was read, or is live
	// without revoke, fails with ErrLeaseChanged or ErrLeaseLive.
	SetCheckpoint(ctx context.Context, seen Lease, checkpoint string, revoke bool, now time.Time) error
}

// Errors of SetCheckpoint.
var (
	ErrLeaseLive    = errors.New("a worker holds a live lease on the shard")
	ErrLeaseChanged = errors.New("the lease changed since it was read")
)

// ShardError is an error about one shard.
type ShardError struct {
	Shard string
	Err   error
}

func (e *ShardError) Error() string { return fmt.Sprintf("shard %s: %v", e.Shard, e.Err) }
func (e *ShardError) Unwrap() error { return e.Err }

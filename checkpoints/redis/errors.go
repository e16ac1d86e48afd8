package redis

import (
	"errors"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"

	"github.com/shardflow/shardflow/checkpoints"
)

// Sentinels for control flow; every error a method returns is a *ShardError
// wrapping one of these (or a Redis error), except where the KCL compares
// with == (see FetchCheckpoint).
var (
	// ErrLeaseLost means this worker no longer holds the shard's lease: the
	// owner or the fencing token changed, or the lease expired. It is final
	// for the holding: stop the shard and never write for it again. It is
	// checkpoints.ErrLeaseLost itself, which the consumer tests for with
	// errors.Is whatever the store.
	ErrLeaseLost = checkpoints.ErrLeaseLost
	// ErrLeaseHeld means another worker holds a live lease on the shard.
	ErrLeaseHeld = errors.New("lease held by another worker")
	// ErrShardClaimed means another worker has a pending claim (lease
	// stealing) on the shard. Its text is the KCL's own.
	ErrShardClaimed = errors.New(chk.ErrShardClaimed)
	// ErrClaimRejected means ClaimShard's conditions did not hold: the owner
	// changed, another claim is pending, or the shard has ended.
	ErrClaimRejected = errors.New("claim rejected")
	// ErrInvalidOptions means the store cannot build keys or leases from its
	// options and the KCL configuration.
	ErrInvalidOptions = errors.New("invalid options")
)

// ShardError gives a failure its context: the operation, the application
// (key space) and the shard. errors.Is sees Err; for GetLease contention it
// also sees chk.ErrLeaseNotAcquired, which the KCL tests with errors.As to
// tell contention (silent) from failure (logged).
type ShardError struct {
	Op          string // "get lease", "checkpoint", "release", ...
	Application string
	Shard       string
	Detail      string // optional: who holds it, until when, ...
	Err         error

	notAcquired bool
}

func (e *ShardError) Error() string {
	s := "checkpoints/redis: " + e.Op + " " + e.Application + "/" + e.Shard + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap exposes Err and, for lease contention, chk.ErrLeaseNotAcquired.
func (e *ShardError) Unwrap() []error {
	if e.notAcquired {
		return []error{e.Err, chk.ErrLeaseNotAcquired{}}
	}
	return []error{e.Err}
}

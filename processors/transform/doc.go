// Package transform owns the seam between decoding and the outputs: the
// Transform interface every batch-to-batch stage implements, the helpers that
// build a stage's output batch from its input (keep selected rows, append
// computed columns), and the expression stages Derive and Filter.
//
// # The contract
//
// A Transform is called as
//
//	out, dead, err := t.Process(ctx, in)
//
// and the contract is:
//
//   - in is borrowed: Process neither releases in.Record nor keeps it (or
//     in.Origins) after it returns.
//   - On success (err == nil) out is never nil. It is a new batch the caller
//     owns and must Release (it may have 0 rows), or in itself with its
//     Record retained once more, so the caller releases out.Record and
//     in.Record separately either way. out.Origins[i] is the origin of out
//     row i: a stage that drops rows drops their origins with them. When no
//     row was dropped, out.Origins may share in.Origins' backing array:
//     Origins are read-only to every stage.
//   - dead holds the input rows that must go to the dead-letter output, with
//     Shard, SequenceNumber, SubSequence and ArrivalTime from the row's
//     origin, Pipeline left empty for the caller, Reason "<code>: <detail>"
//     (for example "enrich_miss: user:u-1" or "expr_error: total: ...") and
//     Raw the row re-encoded as one JSON object of the input's columns (see
//     AppendRowJSON): the original record bytes are gone once a row is decoded.
//     Every input row ends up in exactly one of out and dead, or is dropped
//     on purpose by a filter or a drop policy: rows(out) + len(dead) +
//     dropped == rows(in).
//   - err != nil means the batch could not be processed now (Redis is
//     unreachable, ctx was cancelled): out and dead are nil, nothing was
//     emitted, and the caller keeps in and retries it later (Retry does so
//     with backoff), which is how a slow dependency becomes back-pressure
//     instead of half-enriched output. Errors that retrying cannot fix (the
//     input schema is not the one the stage was built for) match
//     ErrSchemaMismatch.
//
// Close releases what the stage holds (pooled builders, connections it
// owns); Process must not be called after it.
//
// A Transform is safe for concurrent use by the shard processors: per-call
// scratch (builders, the expression VM and its environment) comes from a
// small pool, and the stages share only immutable compiled state and
// internally locked caches.
//
// # What this package must never do
//
// It never panics on a row's data (an expression error is that row's dead
// letter), never emits part of a batch on error, and never lets a go-redis
// or other third-party type into the Transform signature.
package transform

import (
	"context"
	"errors"

	"github.com/shardflow/shardflow/flow"
)

// Transform is one stage between decode and the outputs. See the package
// documentation for the ownership and error contract.
type Transform interface {
	Process(ctx context.Context, in *flow.Batch) (out *flow.Batch, dead []flow.DeadLetter, err error)
	Close(ctx context.Context) error
}

// ErrSchemaMismatch is wrapped by Process errors caused by an input batch
// whose schema is not the one the stage was built for. Retrying cannot fix
// it: it is a wiring bug.
var ErrSchemaMismatch = errors.New("transform: input schema mismatch")

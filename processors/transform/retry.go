package transform

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/shardflow/shardflow/flow"
)

// Backoff bounds the waits between retries of one batch.
type Backoff struct {
	Initial time.Duration // first wait's upper bound; default 50ms
	Max     time.Duration // cap of the upper bound; default 5s
}

// Retry calls t.Process until it succeeds, ctx is done, or the error matches
// ErrSchemaMismatch (which retrying cannot fix). Between attempts it waits a
// random time in [0, bound) ("full jitter"), the bound doubling from
// b.Initial up to b.Max. onRetry, when not nil, is called after each failed
// attempt with the attempt number (1 for the first) and its error. The
// caller keeps owning in; the shard's reading waits meanwhile, which is the
// back-pressure a slow dependency must cause.
func Retry(ctx context.Context, t Transform, in *flow.Batch, b Backoff, onRetry func(attempt int, err error)) (*flow.Batch, []flow.DeadLetter, error) {
	if b.Initial <= 0 {
		b.Initial = 50 * time.Millisecond
	}
	if b.Max < b.Initial {
		b.Max = max(5*time.Second, b.Initial)
	}
	bound := b.Initial
	for attempt := 1; ; attempt++ {
		out, dead, err := t.Process(ctx, in)
		if err == nil {
			return out, dead, nil
		}
		if errors.Is(err, ErrSchemaMismatch) {
			return nil, nil, err
		}
		if onRetry != nil {
			onRetry(attempt, err)
		}
		timer := time.NewTimer(rand.N(bound) + 1)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, fmt.Errorf("transform: giving up after %d attempts: %w (last error: %w)", attempt, context.Cause(ctx), err)
		case <-timer.C:
		}
		bound = min(2*bound, b.Max)
	}
}

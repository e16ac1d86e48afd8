package deadletter

import (
	"context"
	"fmt"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

// Firehose sends envelopes to a Firehose delivery stream through a
// sinks/firehose output (same packing, per-record retries and in-order
// acks); the ack fires when Firehose accepted them. An envelope over the
// Firehose record limit (a raw record near 1 MiB, base64-grown) is an
// error: the batch is not accepted and its shard stops checkpointing rather
// than lose it.
type Firehose struct {
	out   *fhout.Output
	hooks metrics.Hooks
}

// NewFirehose wraps out, which must have been built without an encoder.
func NewFirehose(out *fhout.Output, hooks metrics.Hooks) *Firehose {
	return &Firehose{out: out, hooks: metrics.OrNop(hooks)}
}

// WriteDeadLetters queues the entries; ack fires when Firehose has them.
func (f *Firehose) WriteDeadLetters(ctx context.Context, entries []flow.DeadLetter, ack flow.Ack) error {
	buf, ends, err := encodeLines(entries)
	if err != nil {
		return err
	}
	hooks := f.hooks
	err = f.out.WriteLines(ctx, buf, ends, func(err error) {
		if err == nil {
			for _, e := range entries {
				hooks.DeadLetter(e.Reason, 1)
			}
		}
		ack(err)
	})
	if err != nil {
		return fmt.Errorf("deadletter: firehose: %w", err)
	}
	return nil
}

// Close flushes and waits for the acks.
func (f *Firehose) Close(ctx context.Context) error { return f.out.Close(ctx) }

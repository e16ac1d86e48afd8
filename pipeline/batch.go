package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// HandleBatch decodes one shard batch and hands it to every output; the
// consumer's ack fires when all outputs (and the dead-letter output, if any
// record was rejected) have acked.
func (p *Pipeline) HandleBatch(ctx context.Context, shard string, recs []flow.SourceRecord, ack flow.Ack) error {
	dec, err := p.decoder(shard)
	if err != nil {
		return err
	}
	b, dead := dec.Decode(shard, recs)
	for why, n := range dec.Skipped() {
		p.hooks.InputSkipped(why, n)
	}
	for _, t := range p.transforms {
		// A transform error (Redis down, say) is retried with backoff:
		// the batch waits (back-pressure), nothing goes out half-done.
		out, d, err := transform.Retry(ctx, t, b, transform.Backoff{}, func(attempt int, err error) {
			if attempt == 1 || attempt%20 == 0 {
				p.log.Warn("transform failed; retrying", "shard", shard, "attempt", attempt, "err", err)
			}
		})
		b.Record.Release()
		if err != nil {
			return fmt.Errorf("pipeline %s: shard %s: transform: %w", p.cfg.Name, shard, err)
		}
		dead = append(dead, d...)
		b = out
	}
	defer b.Record.Release()
	p.recordsIn.Add(int64(len(recs)))
	p.rowsOut.Add(int64(b.Rows()))
	parts := len(p.outputs) + len(p.windows)
	if len(dead) > 0 {
		parts++
	}
	join := flow.JoinAcks(parts, ack)
	if len(dead) > 0 {
		for i := range dead {
			dead[i].Pipeline = p.cfg.Name
		}
		p.deadLetters.Add(int64(len(dead)))
		if err := p.dead.WriteDeadLetters(ctx, dead, join); err != nil {
			return fmt.Errorf("pipeline %s: shard %s: dead-letter: %w", p.cfg.Name, shard, err)
		}
	}
	for i, o := range p.outputs {
		if err := o.out.Write(ctx, b, join); err == nil {
			p.hooks.RowsOut(o.name, b.Rows())
		} else {
			// This and every later output will never ack: fail their parts.
			err = fmt.Errorf("pipeline %s: shard %s: output %s: %w", p.cfg.Name, shard, o.name, err)
			for range len(p.outputs) - i + len(p.windows) {
				join(err)
			}
			return nil
		}
	}
	for i, w := range p.windows {
		if err := w.op.Write(ctx, b, join); err != nil {
			err = fmt.Errorf("pipeline %s: shard %s: window %s: %w", p.cfg.Name, shard, w.name, err)
			for range len(p.windows) - i {
				join(err)
			}
			return nil
		}
	}
	return nil
}

func (p *Pipeline) decoder(shard string) (*decode.Decoder, error) {
	p.decMu.Lock()
	defer p.decMu.Unlock()
	if p.decoders == nil {
		return nil, fmt.Errorf("pipeline %s: shard %s: batch after shutdown", p.cfg.Name, shard)
	}
	if d, ok := p.decoders[shard]; ok {
		return d, nil
	}
	d, err := p.cfg.newDecoder(p.mem)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: shard %s: %w", p.cfg.Name, shard, err)
	}
	p.decoders[shard] = d
	return d, nil
}

// ShardStarted, ShardFinished and ShardReleased pass the consumer's shard
// lifecycle to the window operators (consumer.ShardObserver).
func (p *Pipeline) ShardStarted(shard string) {
	for _, w := range p.windows {
		w.op.ShardStarted(shard)
	}
	for _, o := range p.outputs {
		if so, ok := o.out.(shardOutput); ok {
			so.ShardStarted(shard)
		}
	}
}

// ShardDraining asks the outputs that hold rows until a file rolls to
// finish the shard's now (consumer.DrainObserver): it is being handed over.
func (p *Pipeline) ShardDraining(shard string) {
	for _, o := range p.outputs {
		if d, ok := o.out.(interface{ DrainShard(string) }); ok {
			d.DrainShard(shard)
		}
	}
}

// shardOutput is an output that keeps state per shard (the exactly-once S3
// output): it hears when a shard starts here and when it leaves.
type shardOutput interface {
	ShardStarted(shard string)
	ShardReleased(shard string)
}

// ShardFinished marks the shard finished in every window operator.
func (p *Pipeline) ShardFinished(ctx context.Context, shard string) error {
	var errs []error
	for _, w := range p.windows {
		errs = append(errs, w.op.ShardFinished(ctx, shard))
	}
	return errors.Join(errs...)
}

// ShardReleased drops what window operators hold for the shard.
func (p *Pipeline) ShardReleased(shard string) {
	for _, w := range p.windows {
		w.op.ShardReleased(shard)
	}
	for _, o := range p.outputs {
		if so, ok := o.out.(shardOutput); ok {
			so.ShardReleased(shard)
		}
	}
}

// ShardRead passes each GetRecords result's size and MillisBehindLatest to
// the window operators (consumer.ReadObserver): a shard is idle in their
// watermark only while its reader is caught up. Plain values, so that the
// processors know nothing of the consumer.
func (p *Pipeline) ShardRead(shard string, records int, millisBehindLatest int64) {
	for _, w := range p.windows {
		w.op.ShardRead(shard, records, millisBehindLatest)
	}
}

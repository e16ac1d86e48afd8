package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Run starts consuming and blocks until ctx is cancelled, then drains within
// the configured shutdown timeout: stop reading, wait for acks, checkpoint,
// release leases, close outputs.
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.startOps(); err != nil {
		return err
	}
	if err := p.consumer.Start(); err != nil {
		p.stopOps()
		return err
	}
	for _, w := range p.windows {
		w.emit.Start()
	}
	tick := time.NewTicker(p.cfg.ProgressLogInterval.D())
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			p.logProgress("progress")
		}
	}
	p.draining.Store(true) // /readyz turns 503 at once
	p.log.Info("draining", "budget", p.cfg.ShutdownTimeout.D())
	for _, o := range p.outputs {
		if d, ok := o.out.(interface{ Drain() }); ok {
			d.Drain() // roll open files now, so that their acks reach the checkpoints
		}
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	if err := p.consumer.Stop(drainCtx); err != nil {
		errs = append(errs, err)
	}
	// Window state first (its acks were the consumer's to wait for), then
	// the emitters (a cut-off emission is redone by the next holder with
	// the same row ids), then their outputs.
	for _, w := range p.windows {
		if err := w.op.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
		if err := w.emit.Stop(drainCtx); err != nil {
			errs = append(errs, err)
		}
		if err := w.out.out.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range p.outputs {
		if err := o.out.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.dead.Close(drainCtx); err != nil {
		errs = append(errs, err)
	}
	if p.redis != nil {
		if err := p.redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis: %w", err))
		}
	}
	for _, t := range p.transforms {
		if err := t.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.stopSIGHUP != nil {
		p.stopSIGHUP()
	}
	p.decMu.Lock()
	for _, d := range p.decoders {
		d.Release()
	}
	p.decoders = nil
	p.decMu.Unlock()
	p.logProgress("stopped")
	if p.emf != nil {
		if err := p.emf.Close(drainCtx); err != nil {
			errs = append(errs, fmt.Errorf("emf: %w", err))
		}
	}
	p.stopOps()
	return errors.Join(errs...)
}

package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shardflow/shardflow/internal/opsserver"
	"github.com/shardflow/shardflow/internal/statuspage"
)

// startOps serves /metrics, /healthz, /readyz and the status page (/). Ready
// means: not draining, no output gave up, Redis answers (when a Redis-backed
// part is used) and an overridden Firehose endpoint accepts connections.
func (p *Pipeline) startOps() error {
	if p.cfg.Ops.Listen == "off" {
		return nil
	}
	p.ops = opsserver.New(opsserver.Options{Metrics: p.prom.Handler(), Logger: p.log})
	p.ops.AddCheck(opsserver.FuncCheck("draining", func() error {
		if p.draining.Load() {
			return errors.New("draining after SIGTERM")
		}
		return nil
	}))
	p.ops.AddCheck(opsserver.FuncCheck("outputs", p.Healthy))
	// The source: the stream can be listed and read, and every readable
	// shard has an owner. Liveness does not follow: a restart does not
	// fix IAM or a wrong stream name, and a failing shard reader is
	// restarted by the consumer itself.
	p.ops.AddCheck(opsserver.FuncCheck("source", func() error {
		return p.consumer.SourceHealthy(p.cfg.Source.HealthGrace.D())
	}))
	// An output that gave up freezes its shards' checkpoints until the
	// process restarts (the records are then replayed from them): /healthz
	// fails too, so that ECS's container health check replaces the task
	// instead of leaving it stuck.
	p.ops.AddLiveness(opsserver.FuncCheck("outputs", p.Healthy))
	p.ops.AddLiveness(opsserver.FuncCheck("coordination", p.consumer.Live))
	if p.redis != nil {
		p.ops.AddCheck(opsserver.RedisCheck(p.redis))
	}
	if ep := p.cfg.AWS.Endpoints.Firehose; ep != "" && (p.hasFirehoseOutput() || p.cfg.DeadLetter.Firehose != nil) {
		// Only an override (a local or private stand-in) can be down while
		// this process runs; AWS's public endpoint is checked by the calls.
		c, err := opsserver.EndpointCheck("firehose_endpoint", ep)
		if err != nil {
			return fmt.Errorf("pipeline %s: aws.endpoints.firehose: %w", p.cfg.Name, err)
		}
		p.ops.AddCheck(c)
	}
	p.ops.Handle("/", statuspage.Handler(p.status, p.ops.Readiness))
	if err := p.ops.Start(p.cfg.Ops.Listen); err != nil {
		return fmt.Errorf("pipeline %s: ops endpoint: %w", p.cfg.Name, err)
	}
	addr := p.ops.Addr()
	p.opsAddr.Store(&addr)
	p.log.Info("ops endpoint", "addr", addr)
	return nil
}

func (p *Pipeline) stopOps() {
	if p.ops == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.ops.Shutdown(ctx); err != nil {
		p.log.Warn("ops endpoint shutdown", "err", err)
	}
}

// OpsAddr is the address the ops endpoint listens on ("" when off or not
// started yet). Safe to call while Run starts it.
func (p *Pipeline) OpsAddr() string {
	if a := p.opsAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// Healthy reports an output that gave up, if any, or the consumer's
// trouble.
func (p *Pipeline) Healthy() error {
	for _, o := range p.allOutputs() {
		if h, ok := o.out.(healthReporter); ok {
			if err := h.Healthy(); err != nil {
				return fmt.Errorf("output %s: %w", o.name, err)
			}
		}
	}
	return p.consumer.Healthy()
}

// allOutputs lists the direct outputs, then the windows' outputs.
func (p *Pipeline) allOutputs() []namedOutput {
	all := append([]namedOutput(nil), p.outputs...)
	for _, w := range p.windows {
		all = append(all, w.out)
	}
	return all
}

func (p *Pipeline) hasFirehoseOutput() bool {
	for _, o := range p.allOutputs() {
		if o.kind == "firehose" {
			return true
		}
	}
	return false
}

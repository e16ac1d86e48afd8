package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// StageFunc builds one stage on the schema of the batches it will receive.
type StageFunc func(mem memory.Allocator, in *arrow.Schema) (transform.Transform, error)

// OutputFunc builds one output for batches of the final schema.
type OutputFunc func(mem memory.Allocator, in *arrow.Schema) (flow.Output, error)

// Spec describes a processing path: the decode schema, the stages in order
// and the outputs every batch is handed to.
type Spec struct {
	Fields  []decode.Field
	Stages  []StageFunc
	Outputs []OutputFunc
	// Allocator for Arrow buffers; default memory.DefaultAllocator.
	Allocator memory.Allocator
}

// Path is a built Spec. Stages and outputs are shared by all shards (as in
// the pipeline); each shard has its own decoder.
type Path struct {
	mem     memory.Allocator
	fields  []decode.Field
	schema  *arrow.Schema
	stages  []transform.Transform
	outputs []flow.Output

	rows, dead atomic.Int64
	runs       atomic.Int64 // Run calls, for fresh shard ids
}

// ShardName is the id of the shard that replays a dataset for the n-th
// time in a path's run. Every run and every pass of a run reads as a new
// shard: a window operator skips the records at or before a shard's applied
// mark (a replay after a takeover), so replaying the same sequence numbers
// under the same shard id again would measure that skip, not the window.
func ShardName(run int64, n int) string { return fmt.Sprintf("shardId-%04d%08d", run%10_000, n) }

// Build builds every stage and output of spec.
func Build(spec Spec) (*Path, error) {
	p := &Path{mem: spec.Allocator, fields: spec.Fields}
	if p.mem == nil {
		p.mem = memory.DefaultAllocator
	}
	d, err := decode.New(p.mem, spec.Fields)
	if err != nil {
		return nil, fmt.Errorf("harness: schema: %w", err)
	}
	schema := d.Schema()
	d.Release()
	for i, f := range spec.Stages {
		t, err := f(p.mem, schema)
		if err != nil {
			p.Close(context.Background())
			return nil, fmt.Errorf("harness: stages[%d]: %w", i, err)
		}
		p.stages = append(p.stages, t)
		schema = schemaOf(t, schema)
	}
	for i, f := range spec.Outputs {
		o, err := f(p.mem, schema)
		if err != nil {
			p.Close(context.Background())
			return nil, fmt.Errorf("harness: outputs[%d]: %w", i, err)
		}
		p.outputs = append(p.outputs, o)
	}
	p.schema = schema
	return p, nil
}

// schemaOf is a stage's output schema; every transform in shardflow has a
// Schema method.
func schemaOf(t transform.Transform, in *arrow.Schema) *arrow.Schema {
	if s, ok := t.(interface{ Schema() *arrow.Schema }); ok {
		return s.Schema()
	}
	return in
}

// Schema is the schema of the batches the outputs receive.
func (p *Path) Schema() *arrow.Schema { return p.schema }

// NewDecoder returns a decoder for one shard; the caller releases it.
func (p *Path) NewDecoder() (*decode.Decoder, error) { return decode.New(p.mem, p.fields) }

// Handle is pipeline.HandleBatch without the dead-letter output: decode
// recs, run the stages, hand the result to every output. ack fires once
// every output acked. Dead letters are counted, not written.
func (p *Path) Handle(ctx context.Context, dec *decode.Decoder, shard string, recs []flow.SourceRecord, ack flow.Ack) error {
	b, dead := dec.Decode(shard, recs)
	nDead := len(dead)
	for _, t := range p.stages {
		out, d, err := t.Process(ctx, b)
		b.Record.Release()
		if err != nil {
			return fmt.Errorf("harness: shard %s: stage: %w", shard, err)
		}
		nDead += len(d)
		b = out
	}
	defer b.Record.Release()
	p.rows.Add(int64(b.Rows()))
	p.dead.Add(int64(nDead))
	if len(p.outputs) == 0 {
		ack(nil)
		return nil
	}
	join := flow.JoinAcks(len(p.outputs), ack)
	for i, o := range p.outputs {
		if err := o.Write(ctx, b, join); err != nil {
			for range len(p.outputs) - i {
				join(err)
			}
			return fmt.Errorf("harness: shard %s: output %d: %w", shard, i, err)
		}
	}
	return nil
}

// Close closes the outputs (flushing what they hold) and the stages.
func (p *Path) Close(ctx context.Context) error {
	var errs []error
	for _, o := range p.outputs {
		errs = append(errs, o.Close(ctx))
	}
	for _, t := range p.stages {
		errs = append(errs, t.Close(ctx))
	}
	return errors.Join(errs...)
}

// inflight bounds one shard's unacked batches, like the consumer's
// max_in_flight_batches, and lets Run wait for the last acks.
type inflight struct {
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error
}

func newInflight(n int) *inflight { return &inflight{slots: make(chan struct{}, n)} }

func (f *inflight) acquire(ctx context.Context) (flow.Ack, error) {
	select {
	case f.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.wg.Add(1)
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			if err != nil {
				f.mu.Lock()
				f.err = errors.Join(f.err, err)
				f.mu.Unlock()
			}
			<-f.slots
			f.wg.Done()
		})
	}, nil
}

func (f *inflight) wait() error {
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

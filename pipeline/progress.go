package pipeline

import (
	"log/slog"
	"time"

	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

// Counters is a snapshot of a pipeline's totals.
type Counters struct {
	RecordsIn, RowsOut, DeadLetters int64
	// Firehose holds the stats of every Firehose output (direct outputs,
	// then windows' outputs); FirehoseNames[i] is Firehose[i]'s name.
	Firehose      []fhout.Stats
	FirehoseNames []string
}

// logProgress logs the running totals under msg.
func (p *Pipeline) logProgress(msg string) {
	c := p.Counters()
	args := []any{"records_in", c.RecordsIn, "rows_out", c.RowsOut, "dead_letters", c.DeadLetters,
		"shards", len(p.consumer.OwnedShards())}
	for i, f := range c.Firehose {
		args = append(args, slog.Group(c.FirehoseNames[i], "rows", f.Rows, "records", f.Records,
			"billed_bytes", f.BilledBytes, "retries", f.Retries, "failed_records", f.FailedRecords))
	}
	for _, w := range p.windows {
		st := w.emit.Stats()
		g := []any{"emitter", st.Holding, "rows", st.Rows, "updates", st.Updates}
		if !st.Watermark.IsZero() {
			g = append(g, "watermark", st.Watermark.Format(time.RFC3339))
		}
		if !st.Emitted.IsZero() {
			g = append(g, "emitted_through", st.Emitted.Format(time.RFC3339))
		}
		args = append(args, slog.Group("window_"+w.name, g...))
	}
	if err := p.Healthy(); err != nil {
		args = append(args, "unhealthy", err.Error())
	}
	p.log.Info(msg, args...)
}

// Counters returns the pipeline's totals so far.
func (p *Pipeline) Counters() Counters {
	c := Counters{RecordsIn: p.recordsIn.Load(), RowsOut: p.rowsOut.Load(), DeadLetters: p.deadLetters.Load()}
	for _, o := range p.allOutputs() {
		if f, ok := o.out.(firehoseStats); ok {
			c.Firehose = append(c.Firehose, f.Stats())
			c.FirehoseNames = append(c.FirehoseNames, o.name)
		}
	}
	return c
}

// OwnedShards lists the shards this pipeline's worker holds leases on.
func (p *Pipeline) OwnedShards() []string { return p.consumer.OwnedShards() }

package pipeline

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

// Firehose limits used by the cost estimate; Firehose bills each record
// rounded up to 5 KiB.
const (
	firehoseRecordBytes  = fhout.MaxRecordBytes
	firehoseBilledUnit   = 5 << 10
	firehoseCallRecords  = fhout.MaxRecordsPerCall
	firehoseCallMaxBytes = fhout.MaxBytesPerCall
)

// Explain writes the plan as text: the stages in order with each one's
// input and output columns, window keys and aggregates with their result
// types, the outputs, and what a full batch (source.max_records rows)
// costs in Redis commands and Firehose records. It is what
// `shardflow explain` prints.
func (r *Resolved) Explain(w io.Writer) error {
	c := r.Config
	ew := &errWriter{w: w}
	batch := c.Source.MaxRecords
	ew.printf("pipeline %s: stream %s from %s", c.Name, c.Source.Stream, c.Source.InitialPosition)
	if c.Source.Checkpoints.Type == "dynamodb" {
		ew.printf(", leases and checkpoints in DynamoDB table %s\n", c.Source.Checkpoints.Table)
	} else {
		ew.printf(", leases and checkpoints in Redis (%s:{%s}:…)\n", c.Redis.KeyPrefix, c.Name)
	}
	ew.printf("a batch is one GetRecords result of a shard: at most %d records (source.max_records); up to %d batches per shard in flight\n\n",
		batch, c.Source.MaxInFlightBatches)

	ew.printf("decode  json → %d columns\n", r.Schema.NumFields())
	ew.printf("  out  %s\n", columns(r.Schema))
	for i, t := range r.Transforms {
		ew.printf("\n%s  %s\n", t.Path, describeTransform(t))
		ew.printf("  in   %d columns\n", t.In.NumFields())
		if added := t.Out.NumFields() - t.In.NumFields(); added > 0 {
			ew.printf("  out  + %s\n", columns(arrow.NewSchema(t.Out.Fields()[t.In.NumFields():], nil)))
		} else {
			ew.printf("  out  the same columns\n")
		}
		ew.printf("  cost %s\n", transformCost(r, i, batch))
	}
	ew.printf("\nrows to outputs and windows: %s\n", columns(r.Rows))
	for _, o := range r.Outputs {
		ew.printf("\n%s  %s\n", o.Path, describeOutput(o))
		ew.printf("  cost %s\n", outputCost(o, batch))
	}
	for _, wp := range r.Windows {
		ew.printf("\n%s  %s\n", wp.Path, describeWindow(wp))
		for _, a := range wp.Options.Aggregates {
			of := "rows"
			if a.Column != "" {
				of = a.Column
			}
			ew.printf("  %-12s %s(%s) → %s\n", a.Name, a.Func, of, typeOf(wp.Result, a.Name))
		}
		ew.printf("  result %s\n", columns(wp.Result))
		flushBatches := max(1, c.Source.MaxInFlightBatches/2)
		ew.printf("  cost per shard flush (every %s, or every %d batches): 1 Redis script call (HMGET, one RPUSH per window touched, HSET); "+
			"per emission (every %s): 1 script call per shard and 1 LRANGE per closed window and shard\n",
			wp.Config.FlushInterval, flushBatches, wp.Config.EmitInterval)
		ew.printf("  %s  %s\n", wp.Output.Path, describeOutput(wp.Output))
		ew.printf("    cost %s\n", outputCost(wp.Output, 0))
	}
	ew.printf("\ndead letters → %s\n", describeDeadLetter(c.DeadLetter))
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// columns lists a schema as "name type" pairs.
func columns(s *arrow.Schema) string {
	parts := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		parts[i] = f.Name + " " + arrowTypeName(f.Type)
	}
	return strings.Join(parts, ", ")
}

func typeOf(s *arrow.Schema, name string) string {
	if idx := s.FieldIndices(name); len(idx) == 1 {
		return arrowTypeName(s.Field(idx[0]).Type)
	}
	return "?"
}

// arrowTypeName is the config's name of a column type.
func arrowTypeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "string"
	case arrow.INT64:
		return "int64"
	case arrow.FLOAT64:
		return "float64"
	case arrow.BOOL:
		return "bool"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return t.String()
}

func describeTransform(t TransformPlan) string {
	switch t.Kind {
	case "derive":
		d := t.Step.(transform.Derive)
		return fmt.Sprintf("derive %s %s = %s", d.Name, d.Type, d.Expr)
	case "filter":
		return fmt.Sprintf("filter %s", t.Step.(transform.Filter).Expr)
	case "redis_lookup":
		o := t.RedisLookup
		return fmt.Sprintf("redis_lookup key %s%s (%s), on_miss %s", o.KeyPrefix, o.Key, o.Source, o.OnMiss)
	case "static_table":
		o := t.StaticTable
		return fmt.Sprintf("static_table %s key %s, on_miss %s", o.File, o.Key, o.OnMiss)
	}
	return t.Kind
}

func transformCost(r *Resolved, i, batch int) string {
	t := r.Transforms[i]
	switch t.Kind {
	case "redis_lookup":
		o := t.RedisLookup
		cmd := "HMGET"
		if o.Source == enrich.SourceJSON {
			cmd = "GET"
		}
		cache := fmt.Sprintf("cache of %d keys for %s (missing keys %s)", o.CacheSize, formatDuration(o.CacheTTL), formatDuration(o.NegativeTTL))
		if o.CacheSize < 0 || o.CacheTTL < 0 {
			cache = "no cache: every batch fetches all its distinct keys"
		}
		return fmt.Sprintf("per batch: at most 1 pipelined Redis round trip: one %s per distinct key the cache misses (≤ %d); %s", cmd, batch, cache)
	case "static_table":
		return "in memory (the table is read at start and on SIGHUP); no I/O per batch"
	}
	shared := ""
	if (i > 0 && r.Transforms[i-1].Step != nil) || (i+1 < len(r.Transforms) && r.Transforms[i+1].Step != nil) {
		shared = "; consecutive derive/filter steps run in one pass over the batch"
	}
	return "in memory, compiled once; a row whose expression fails goes to dead-letter (expr_error)" + shared
}

func describeOutput(o OutputPlan) string {
	switch o.Kind {
	case "firehose":
		f := o.Firehose
		return fmt.Sprintf("%s → firehose %s (%s, linger %s, %d calls in flight)", o.Name, f.DeliveryStream, f.Format, f.Linger, f.MaxInFlight)
	case "s3":
		s := o.S3
		return fmt.Sprintf("%s → s3://%s/%s Parquet (%s), partitioned by %s, files roll at %d MiB or %s",
			o.Name, s.Bucket, s.Prefix, s.Compression, s.PartitionBy, s.RollBytes>>20, s.RollInterval)
	}
	return o.Name
}

// outputCost estimates what rows cost at an output: for Firehose, records
// and calls per batch of rows (0: per emitted row) from the schema's
// estimated NDJSON row size.
func outputCost(o OutputPlan, rows int) string {
	if o.Kind == "s3" {
		return "no call per batch: 1 PutObject per file, or a multipart upload of 8 MiB parts above 8 MiB; acks wait for the upload"
	}
	size := estimatedRowBytes(o.Schema, o.Firehose.Format)
	perRecord := max(1, firehoseRecordBytes/size)
	if rows == 0 {
		return fmt.Sprintf("≈ %d bytes per row (estimated), ≈ %d rows packed per Firehose record (≤ %d bytes, billed in 5 KiB units)", size, perRecord, firehoseRecordBytes)
	}
	bytes := rows * size
	records := (rows + perRecord - 1) / perRecord
	calls := max((records+firehoseCallRecords-1)/firehoseCallRecords, (bytes+firehoseCallMaxBytes-1)/firehoseCallMaxBytes)
	billed := 0
	for left := bytes; left > 0; left -= perRecord * size {
		rec := min(left, perRecord*size)
		billed += (rec + firehoseBilledUnit - 1) / firehoseBilledUnit * firehoseBilledUnit
	}
	return fmt.Sprintf("≈ %d bytes per row (estimated): a full batch of %d rows ≈ %.1f MB → %d Firehose record%s, %d PutRecordBatch call%s, ≈ %.1f MB billed (unpacked: %d records, %.1f MB billed)",
		size, rows, float64(bytes)/1e6, records, plural(records), calls, plural(calls), float64(billed)/1e6,
		rows, float64(rows*((size+firehoseBilledUnit-1)/firehoseBilledUnit*firehoseBilledUnit))/1e6)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// estimatedRowBytes guesses an encoded row's size from its columns:
// strings of 16 characters, numbers of 8 digits, RFC 3339 timestamps.
func estimatedRowBytes(s *arrow.Schema, format string) int {
	n := 2 // {} or the CSV line end
	for _, f := range s.Fields() {
		v := 8
		switch f.Type.ID() {
		case arrow.STRING:
			v = 18
		case arrow.BOOL:
			v = 5
		case arrow.TIMESTAMP:
			v = 29
		case arrow.FLOAT64:
			v = 10
		}
		if format == "csv" {
			n += v + 1
		} else {
			n += len(f.Name) + 4 + v
		}
	}
	return n
}

func describeWindow(wp WindowPlan) string {
	o := wp.Options
	var kind string
	switch {
	case o.Gap > 0:
		kind = fmt.Sprintf("session (gap %s)", formatDuration(o.Gap))
	case o.Slide > 0 && o.Slide != o.Size:
		kind = fmt.Sprintf("hopping %s every %s", formatDuration(o.Size), formatDuration(o.Slide))
	default:
		kind = fmt.Sprintf("tumbling %s", formatDuration(o.Size))
	}
	group := "one group"
	if len(o.GroupBy) > 0 {
		group = "group by " + strings.Join(o.GroupBy, ", ")
	}
	late := string(o.LateRows)
	if o.LateRows == window.LateUpdate {
		late += fmt.Sprintf(" (for %s)", formatDuration(o.UpdateHorizon))
	}
	return fmt.Sprintf("%s: %s on %s, %s; watermark = slowest shard's largest %s − %s, windows close %s after it; late rows: %s",
		wp.Config.Name, kind, o.TimeColumn, group, o.TimeColumn, formatDuration(o.MaxOutOfOrderness), formatDuration(o.AllowedLateness), late)
}

func describeDeadLetter(d DeadLetterConfig) string {
	switch {
	case d.Firehose != nil:
		return "firehose " + d.Firehose.DeliveryStream
	case d.Stdout:
		return "stdout"
	}
	return "file " + d.File + " (fsynced per write)"
}

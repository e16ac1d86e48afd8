package s3

import (
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/internal/suggest"
	"github.com/shardflow/shardflow/sinks/encode"
)

// Problem is one problem with an output's options, found without a client
// or any I/O. Key names the option as the pipeline config does ("bucket",
// "compression", "partition_by", "roll_bytes", "roll_interval",
// "retry_timeout", "prefix"); "" is the rows' schema itself.
type Problem struct {
	Key, Msg string
}

// Plan checks what New checks of opts that needs no client — bucket, name,
// compression, the rows' schema (opts.Schema) as Parquet, partition_by
// against it — and also rejects negative sizes and durations, which New
// would silently replace by its defaults. What it accepts, New accepts
// given a client.
func Plan(opts Options) []Problem {
	var problems []Problem
	bad := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if opts.Bucket == "" {
		bad("bucket", "is required")
	}
	name := opts.Name
	if name == "" {
		name = "shardflow"
	}
	if strings.Contains(name, "/") {
		bad("", "file name %q must not contain '/'", name)
	}
	if opts.RollBytes < 0 {
		bad("roll_bytes", "must be positive, got %d", opts.RollBytes)
	}
	if opts.RollInterval < 0 {
		bad("roll_interval", "must be positive, got %s", opts.RollInterval)
	}
	if opts.RetryTimeout < 0 {
		bad("retry_timeout", "must be positive, got %s", opts.RetryTimeout)
	}
	codecs := []string{"snappy", "zstd", "none"}
	compressionOK := true
	switch opts.Compression {
	case "", "snappy", "zstd", "none":
	default:
		bad("compression", "%q: want snappy, zstd or none%s", opts.Compression, suggest.DidYouMean(opts.Compression, codecs))
		compressionOK = false
	}
	if opts.Schema == nil {
		bad("", "the rows' schema is required")
		return problems
	}
	if compressionOK {
		probe, err := encode.NewParquet(io.Discard, opts.Schema, encode.ParquetOptions{Compression: opts.Compression})
		if err == nil {
			err = probe.Close()
		}
		if err != nil {
			bad("", "%v", err)
		}
	}
	if by := opts.PartitionBy; by != "" && by != "arrival" {
		col, isEvent := strings.CutPrefix(by, "event:")
		var ts []string
		for _, f := range opts.Schema.Fields() {
			if t, ok := f.Type.(*arrow.TimestampType); ok && t.Unit == arrow.Microsecond {
				ts = append(ts, f.Name)
			}
		}
		hint := "the timestamp columns here are " + strings.Join(ts, ", ")
		if len(ts) == 0 {
			hint = "the rows have no timestamp column"
		}
		idx := opts.Schema.FieldIndices(col)
		switch {
		case !isEvent:
			bad("partition_by", `%q: want "arrival" or "event:<timestamp column>"%s`, by, suggest.DidYouMean(by, []string{"arrival"}))
		case len(idx) != 1:
			bad("partition_by", "%q: no column %q%s; %s", by, col, suggest.DidYouMean(col, ts), hint)
		default:
			if t, ok := opts.Schema.Field(idx[0]).Type.(*arrow.TimestampType); !ok || t.Unit != arrow.Microsecond {
				bad("partition_by", "%q: column %q is not a timestamp; %s", by, col, hint)
			}
		}
		if len(problems) == 0 {
			if _, err := partitionColumn(by, opts.Schema); err != nil { // New's own check
				bad("partition_by", "%v", err)
			}
		}
	}
	return problems
}

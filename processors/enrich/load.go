package enrich

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// LoadOptions configures Load.
type LoadOptions struct {
	// KeyPrefix is prepended to every key, as RedisOptions.KeyPrefix.
	KeyPrefix string
	// Format is "csv" or "json"; empty means by the file's extension.
	Format string
	// ChunkSize is the number of rows written per pipelined round trip;
	// 0 means 1000.
	ChunkSize int
	// TTL, when positive, is set on every key written.
	TTL time.Duration
}

// LoadResult counts what Load wrote.
type LoadResult struct {
	Rows       int // rows written, one hash each
	Fields     int // hash fields written
	RoundTrips int // pipelines executed
}

// Load seeds a Redis lookup table from a table file (the formats
// StaticTable reads): each row becomes a hash at KeyPrefix + the key
// template rendered over the row, holding every non-null field of the row
// as text (HSET, so fields absent from the file are left as they are).
// Rows are written in pipelined chunks. A row without a placeholder's field
// stops the load with an error naming the row; the rows of earlier chunks
// are written and counted in the result.
func Load(ctx context.Context, client redis.UniversalClient, file, keyTemplate string, opts LoadOptions) (LoadResult, error) {
	var res LoadResult
	tmpl, err := parseTemplate(keyTemplate)
	if err != nil {
		return res, fmt.Errorf("enrich: load: key: %w", err)
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1000
	}
	keyField := ""
	if len(tmpl.names) == 1 {
		keyField = tmpl.names[0]
	}
	pipe := client.Pipeline()
	pending, pendingFields := 0, 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		res.RoundTrips++
		if err != nil {
			return fmt.Errorf("writing %d rows: %w", pending, err)
		}
		res.Rows += pending
		res.Fields += pendingFields
		pending, pendingFields = 0, 0
		return nil
	}
	var args []any
	err = readRows(file, opts.Format, keyField, func(pos string, row map[string]string) error {
		key, miss := tmpl.render(row)
		if miss != "" {
			return fmt.Errorf("%s: no %q for the key %q", pos, miss, keyTemplate)
		}
		names := make([]string, 0, len(row))
		for name := range row {
			names = append(names, name)
		}
		slices.Sort(names) // deterministic commands
		args = args[:0]
		for _, name := range names {
			args = append(args, name, row[name])
		}
		pipe.HSet(ctx, opts.KeyPrefix+key, args...)
		if opts.TTL > 0 {
			pipe.Expire(ctx, opts.KeyPrefix+key, opts.TTL)
		}
		pending++
		pendingFields += len(names)
		if pending >= opts.ChunkSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("enrich: load: %w", err)
	}
	return res, nil
}

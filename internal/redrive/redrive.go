package redrive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/metrics"
	"github.com/shardflow/shardflow/sinks/deadletter"
)

// Kinesis limits: 1 MiB per record (data + partition key), 500 records and
// 5 MiB per PutRecords call (we stop a little below).
const (
	maxRecordBytes = 1 << 20
	maxCallRecords = 500
	maxCallBytes   = 4 << 20
)

// Options select and route the envelopes.
type Options struct {
	// Stream receives the records. Required.
	Stream string
	// Pipeline keeps only envelopes of this pipeline ("" keeps all).
	Pipeline string
	// Reasons keeps only envelopes whose reason code (the text before the
	// first ':', e.g. invalid_json) is one of these; empty keeps all.
	Reasons []string
	// DryRun reads and counts, puts nothing.
	DryRun bool
	// MaxRetry bounds the retries of one PutRecords batch (default 1m).
	MaxRetry time.Duration
}

// Summary says what a redrive did.
type Summary struct {
	Sources  int            // files or objects read
	Read     int            // envelopes read
	Matched  int            // of those, kept by the filters
	Put      int            // records put (0 on a dry run)
	ByReason map[string]int // matched envelopes by reason code
	Calls    int            // PutRecords calls
	Retried  int            // records resent
}

// Source is one file or object of envelopes.
type Source struct {
	Name string
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// FileSource reads a local file.
func FileSource(path string) Source {
	return Source{Name: path, Open: func(context.Context) (io.ReadCloser, error) { return os.Open(path) }}
}

// S3Sources lists the objects under s3://bucket/prefix (in key order).
func S3Sources(ctx context.Context, c *s3.Client, bucket, prefix string) ([]Source, error) {
	var out []Source
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("redrive: list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			out = append(out, Source{Name: "s3://" + bucket + "/" + key, Open: func(ctx context.Context) (io.ReadCloser, error) {
				obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				if err != nil {
					return nil, err
				}
				return obj.Body, nil
			}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Redrive reads every source, filters and puts the records into
// opts.Stream. On an error, the Summary says how far it got: records put
// before it stay put.
func Redrive(ctx context.Context, kc *kinesis.Client, sources []Source, opts Options) (Summary, error) {
	if opts.Stream == "" {
		return Summary{}, errors.New("redrive: a stream is required")
	}
	if opts.MaxRetry <= 0 {
		opts.MaxRetry = time.Minute
	}
	reasons := map[string]bool{}
	for _, r := range opts.Reasons {
		reasons[r] = true
	}
	sum := Summary{ByReason: map[string]int{}}
	var batch []types.PutRecordsRequestEntry
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		calls, retried, err := produce.PutEntries(ctx, kc, opts.Stream, batch, opts.MaxRetry)
		sum.Calls += calls
		sum.Retried += retried
		if err != nil {
			return fmt.Errorf("redrive: after %d records: %w", sum.Put, err)
		}
		sum.Put += len(batch)
		batch, batchBytes = batch[:0], 0
		return nil
	}
	for _, src := range sources {
		sum.Sources++
		err := readSource(ctx, src, func(line int, env deadletter.Envelope) error {
			sum.Read++
			code := metrics.ReasonCode(env.Reason)
			if opts.Pipeline != "" && env.Pipeline != opts.Pipeline || len(reasons) > 0 && !reasons[code] {
				return nil
			}
			raw, err := base64.StdEncoding.DecodeString(env.RawBase64)
			if err != nil {
				return fmt.Errorf("redrive: %s line %d: raw_base64: %w", src.Name, line, err)
			}
			key := partitionKey(env, raw)
			if len(raw)+len(key) > maxRecordBytes {
				return fmt.Errorf("redrive: %s line %d: %d bytes exceed the Kinesis record limit", src.Name, line, len(raw))
			}
			sum.Matched++
			sum.ByReason[code]++
			if opts.DryRun {
				return nil
			}
			if len(batch) == maxCallRecords || batchBytes+len(raw)+len(key) > maxCallBytes {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, types.PutRecordsRequestEntry{Data: raw, PartitionKey: aws.String(key)})
			batchBytes += len(raw) + len(key)
			return nil
		})
		if err != nil {
			return sum, err
		}
	}
	return sum, flush()
}

// partitionKey spreads the records over the shards and is the same for
// the same envelope: its shard and position, or a hash of the bytes.
func partitionKey(env deadletter.Envelope, raw []byte) string {
	if env.Shard != "" && env.Sequence != "" {
		return fmt.Sprintf("redrive-%s-%s-%d", env.Shard, env.Sequence, env.SubSequence)
	}
	h := sha256.Sum256(raw)
	return "redrive-" + hex.EncodeToString(h[:16])
}

// readSource calls fn for each envelope of src, which is NDJSON, plain or
// GZIP (by its magic bytes). Blank lines are allowed; anything else that
// is not an envelope is an error.
func readSource(ctx context.Context, src Source, fn func(line int, env deadletter.Envelope) error) error {
	rc, err := src.Open(ctx)
	if err != nil {
		return fmt.Errorf("redrive: open %s: %w", src.Name, err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("redrive: %s: gzip: %w", src.Name, err)
		}
		defer gz.Close()
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4*maxRecordBytes)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var env deadletter.Envelope
		if err := json.Unmarshal(text, &env); err != nil || env.Reason == "" || env.RawBase64 == "" {
			if err == nil {
				err = errors.New("not a dead-letter envelope (no reason or raw_base64)")
			}
			return fmt.Errorf("redrive: %s line %d: %w", src.Name, line, err)
		}
		if err := fn(line, env); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("redrive: read %s: %w", src.Name, err)
	}
	return nil
}

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(u string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, bucket != ""
}

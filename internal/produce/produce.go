package produce

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/consumer/kpl"
)

// Options controls a run of Put.
type Options struct {
	Stream string
	Count  int
	// Rate in records per second; 0 means as fast as the stream takes them.
	Rate float64
	// Malformed puts this many undecodable records among the events (one
	// every Count/Malformed), to exercise dead-letter handling.
	Malformed int
	// Aggregate > 1 packs that many events into each KPL aggregated record
	// (one partition key per aggregate, as a KPL does per shard).
	Aggregate int
	// Progress, if set, is called after each accepted PutRecords call with
	// the number of records accepted so far.
	Progress func(done int)
	// MaxRetryTime bounds retries of one batch (default 1m).
	MaxRetryTime time.Duration
}

// Summary says what was put.
type Summary struct {
	Events, Malformed int
	// Aggregates is the number of KPL aggregated records put.
	Aggregates     int
	Calls, Retried int
	Elapsed        time.Duration
}

// PutRecords limits: 500 records and 5 MiB per call; stop adding records
// a little below the byte limit.
const (
	maxRecordsPerCall = 500
	maxBytesPerCall   = 4 << 20
	// MaxAggregate keeps a ~300-byte-event aggregate under Kinesis's 1 MiB
	// record limit.
	MaxAggregate = 2000
)

// Put generates opts.Count records from gen and puts them into the stream.
func Put(ctx context.Context, c *kinesis.Client, gen *workload.Generator, opts Options) (Summary, error) {
	if opts.Aggregate > MaxAggregate {
		return Summary{}, fmt.Errorf("produce: aggregate of %d events exceeds %d (Kinesis records are at most 1 MiB)", opts.Aggregate, MaxAggregate)
	}
	if opts.MaxRetryTime <= 0 {
		opts.MaxRetryTime = time.Minute
	}
	var sum Summary
	start := time.Now()
	every := 0
	if opts.Malformed > 0 {
		every = max(1, opts.Count/opts.Malformed)
	}
	entries := make([]types.PutRecordsRequestEntry, 0, maxRecordsPerCall)
	done := 0 // events and malformed records generated so far
	for done < opts.Count {
		entries = entries[:0]
		callBytes := 0
		before := done
		for len(entries) < maxRecordsPerCall && callBytes < maxBytesPerCall && done < opts.Count {
			var entry types.PutRecordsRequestEntry
			switch {
			case every > 0 && done%every == every-1 && sum.Malformed < opts.Malformed:
				entry = types.PutRecordsRequestEntry{
					Data:         []byte(`{"event_id": "broken-` + strconv.Itoa(done) + `", "price": not-json`),
					PartitionKey: aws.String("malformed-" + strconv.Itoa(done)),
				}
				sum.Malformed++
				done++
			case opts.Aggregate > 1:
				k := min(opts.Aggregate, opts.Count-done)
				subs := make([][]byte, 0, k)
				for range k {
					e := gen.Next()
					subs = append(subs, e.AppendJSON(make([]byte, 0, 320)))
				}
				pk := "kpl-" + strconv.Itoa(done)
				entry = types.PutRecordsRequestEntry{Data: kpl.Aggregate(pk, subs), PartitionKey: aws.String(pk)}
				sum.Events += k
				sum.Aggregates++
				done += k
			default:
				e := gen.Next()
				entry = types.PutRecordsRequestEntry{
					Data:         e.AppendJSON(make([]byte, 0, 320)),
					PartitionKey: aws.String("u-" + strconv.Itoa(e.UserID)),
				}
				sum.Events++
				done++
			}
			entries = append(entries, entry)
			callBytes += len(entry.Data) + len(aws.ToString(entry.PartitionKey))
		}
		if opts.Rate > 0 {
			due := start.Add(time.Duration(float64(before) / opts.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return sum, ctx.Err()
				}
			}
		}
		calls, retried, err := putAll(ctx, c, opts.Stream, entries, opts.MaxRetryTime)
		sum.Calls += calls
		sum.Retried += retried
		if err != nil {
			return sum, err
		}
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// PutEntries puts entries (at most 500, 5 MiB) into stream, resending
// only the records Kinesis failed, by index, with backoff, for at most
// maxRetry. It returns the PutRecords calls made and the records resent.
func PutEntries(ctx context.Context, c *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry, maxRetry time.Duration) (calls, retried int, err error) {
	return putAll(ctx, c, stream, entries, maxRetry)
}

// putAll puts entries, resending only failed ones, until all are accepted.
func putAll(ctx context.Context, c *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry, maxRetry time.Duration) (calls, retried int, err error) {
	deadline := time.Now().Add(maxRetry)
	pending := entries
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if time.Now().After(deadline) {
				return calls, retried, fmt.Errorf("produce: stream %s: %d records still failing after %s", stream, len(pending), maxRetry)
			}
			backoff := time.Duration(rand.Int64N(int64(min(50*time.Millisecond<<min(attempt, 6), 2*time.Second)))) + time.Millisecond
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return calls, retried, ctx.Err()
			}
		}
		calls++
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: pending})
		if err != nil {
			if ctx.Err() != nil {
				return calls, retried, ctx.Err()
			}
			retried += len(pending)
			continue
		}
		if aws.ToInt32(out.FailedRecordCount) == 0 {
			return calls, retried, nil
		}
		kept := make([]types.PutRecordsRequestEntry, 0, aws.ToInt32(out.FailedRecordCount))
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				kept = append(kept, pending[i])
			}
		}
		retried += len(kept)
		pending = kept
		if len(pending) == 0 {
			return calls, retried, nil
		}
	}
}

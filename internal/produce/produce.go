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
	// Progress, if set, is called after each accepted PutRecords call with
	// the number of records accepted so far.
	Progress func(done int)
	// MaxRetryTime bounds retries of one batch (default 1m).
	MaxRetryTime time.Duration
}

// Summary says what was put.
type Summary struct {
	Events, Malformed int
	Calls, Retried    int
	Elapsed           time.Duration
}

const maxRecordsPerCall = 500

// Put generates opts.Count records from gen and puts them into the stream.
func Put(ctx context.Context, c *kinesis.Client, gen *workload.Generator, opts Options) (Summary, error) {
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
	done := 0
	for done < opts.Count {
		entries = entries[:0]
		n := min(maxRecordsPerCall, opts.Count-done)
		for i := range n {
			idx := done + i
			if every > 0 && idx%every == every-1 && sum.Malformed < opts.Malformed {
				entries = append(entries, types.PutRecordsRequestEntry{
					Data:         []byte(`{"event_id": "broken-` + strconv.Itoa(idx) + `", "price": not-json`),
					PartitionKey: aws.String("malformed-" + strconv.Itoa(idx)),
				})
				sum.Malformed++
				continue
			}
			e := gen.Next()
			entries = append(entries, types.PutRecordsRequestEntry{
				Data:         e.AppendJSON(make([]byte, 0, 320)),
				PartitionKey: aws.String("u-" + strconv.Itoa(e.UserID)),
			})
			sum.Events++
		}
		if opts.Rate > 0 {
			due := start.Add(time.Duration(float64(done) / opts.Rate * float64(time.Second)))
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
		done += n
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, nil
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

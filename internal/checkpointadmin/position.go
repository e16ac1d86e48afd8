package checkpointadmin

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// PositionKind is where a reset starts a shard.
type PositionKind string

// The positions of a reset.
const (
	TrimHorizon PositionKind = "trim_horizon"
	Latest      PositionKind = "latest"
	AtTimestamp PositionKind = "at_timestamp"
	AtSequence  PositionKind = "sequence"
)

// Position is a parsed --to.
type Position struct {
	Kind     PositionKind
	At       time.Time // AtTimestamp
	Sequence string    // AtSequence: the shard resumes after it
}

// ParsePosition parses trim_horizon, latest, at_timestamp=<RFC 3339> or
// sequence=<number> (case-insensitive names).
func ParsePosition(s string) (Position, error) {
	name, arg, _ := strings.Cut(s, "=")
	switch PositionKind(strings.ToLower(name)) {
	case TrimHorizon:
		if arg == "" {
			return Position{Kind: TrimHorizon}, nil
		}
	case Latest:
		if arg == "" {
			return Position{Kind: Latest}, nil
		}
	case AtTimestamp:
		t, err := time.Parse(time.RFC3339Nano, arg)
		if err != nil {
			return Position{}, fmt.Errorf("at_timestamp=%q: want an RFC 3339 time, e.g. at_timestamp=2026-11-22T10:00:00Z", arg)
		}
		return Position{Kind: AtTimestamp, At: t}, nil
	case AtSequence:
		if n, ok := new(big.Int).SetString(arg, 10); ok && n.Sign() >= 0 {
			return Position{Kind: AtSequence, Sequence: arg}, nil
		}
		return Position{}, fmt.Errorf("sequence=%q: want a decimal sequence number", arg)
	}
	return Position{}, fmt.Errorf("position %q: want trim_horizon, latest, at_timestamp=<RFC 3339> or sequence=<number>", s)
}

func (p Position) String() string {
	switch p.Kind {
	case AtTimestamp:
		return "at_timestamp=" + p.At.UTC().Format(time.RFC3339Nano)
	case AtSequence:
		return "sequence=" + p.Sequence
	}
	return string(p.Kind)
}

// Shard is what a reset needs to know of a stream's shard.
type Shard struct {
	ID               string
	Parent, Adjacent string
	StartingSequence string
	Closed           bool
}

// ListShards lists the stream's shards (those still in retention).
func ListShards(ctx context.Context, kc *kinesis.Client, stream string) ([]Shard, error) {
	var out []Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		page, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: list shards of stream %s: %w", stream, err)
		}
		for _, s := range page.Shards {
			sh := Shard{ID: aws.ToString(s.ShardId), Parent: aws.ToString(s.ParentShardId), Adjacent: aws.ToString(s.AdjacentParentShardId)}
			if r := s.SequenceNumberRange; r != nil {
				sh.StartingSequence = aws.ToString(r.StartingSequenceNumber)
				sh.Closed = r.EndingSequenceNumber != nil
			}
			out = append(out, sh)
		}
		if page.NextToken == nil {
			return out, nil
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}

// Resolver turns a position into a shard's checkpoint by reading the
// stream. Its zero fields take defaults.
type Resolver struct {
	Kinesis *kinesis.Client
	Stream  string
	// Retention is the stream's retention period (DescribeStreamSummary);
	// probes never start before now − Retention.
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ProbeTimeout bounds one GetShardIterator AT_TIMESTAMP call (default
	// 5s). kinesalite never answers one when no record arrived at or after
	// the timestamp; a probe that times out only widens the search.
	ProbeTimeout time.Duration
	// ReadPause is the pause between GetRecords calls of a shard (default
	// 200 ms: Kinesis allows 5 per second and shard).
	ReadPause time.Duration
}

// probeWindows are how far before T the probes start, in turn; after the
// last (or once a probe would start before the retention) the read starts
// at TRIM_HORIZON.
var probeWindows = []time.Duration{time.Minute, 10 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// NewResolver reads the stream's retention.
func NewResolver(ctx context.Context, kc *kinesis.Client, stream string) (*Resolver, error) {
	out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("checkpoints: describe stream %s: %w", stream, err)
	}
	hours := aws.ToInt32(out.StreamDescriptionSummary.RetentionPeriodHours)
	if hours <= 0 {
		hours = 24
	}
	return &Resolver{Kinesis: kc, Stream: stream, Retention: time.Duration(hours) * time.Hour}, nil
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Checkpoint returns the checkpoint that starts shard at p.
func (r *Resolver) Checkpoint(ctx context.Context, shard Shard, p Position) (string, error) {
	switch p.Kind {
	case TrimHorizon:
		if shard.StartingSequence == "" {
			return "", &ShardError{shard.ID, errors.New("the stream reports no starting sequence number")}
		}
		return shard.StartingSequence, nil
	case AtSequence:
		// Let Kinesis say whether the number belongs to the shard.
		_, err := r.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(r.Stream), ShardId: aws.String(shard.ID),
			ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(p.Sequence),
		})
		if err != nil {
			return "", &ShardError{shard.ID, fmt.Errorf("sequence %s: %w", p.Sequence, err)}
		}
		return p.Sequence, nil
	case Latest:
		return r.before(ctx, shard, r.now())
	case AtTimestamp:
		return r.before(ctx, shard, p.At)
	}
	return "", fmt.Errorf("checkpoints: unknown position %q", p.Kind)
}

// before returns the checkpoint after which the shard's first record that
// arrived at or after t comes: the last record before t, ShardEnd for a
// closed shard all of whose records came before t, the starting sequence
// number when every retained record came at or after t.
func (r *Resolver) before(ctx context.Context, shard Shard, t time.Time) (string, error) {
	now := r.now()
	oldest := now.Add(-r.Retention)
	for _, w := range probeWindows {
		from := t.Add(-w)
		if from.After(now) {
			from = now
		}
		if !from.After(oldest) {
			break
		}
		it, err := r.probe(ctx, shard.ID, from)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			continue // a probe that failed proves nothing: widen
		}
		seq, found, ended, err := r.scan(ctx, shard.ID, it, t)
		if err != nil {
			return "", err
		}
		if ended {
			return ShardEnd, nil
		}
		if found {
			return seq, nil
		}
	}
	out, err := r.Kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(r.Stream), ShardId: aws.String(shard.ID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return "", &ShardError{shard.ID, fmt.Errorf("TRIM_HORIZON iterator: %w", err)}
	}
	seq, found, ended, err := r.scan(ctx, shard.ID, out.ShardIterator, t)
	switch {
	case err != nil:
		return "", err
	case ended:
		return ShardEnd, nil
	case found:
		return seq, nil
	}
	return shard.StartingSequence, nil
}

func (r *Resolver) probe(ctx context.Context, shard string, from time.Time) (*string, error) {
	timeout := r.ProbeTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := r.Kinesis.GetShardIterator(pctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(r.Stream), ShardId: aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(from),
	})
	if err != nil {
		return nil, err
	}
	return out.ShardIterator, nil
}

// scan reads forward from it until a record that arrived at or after t
// (found reports whether one before it was seen, seq is the last such), the
// end of a closed shard (ended), or the tip of an open one.
func (r *Resolver) scan(ctx context.Context, shard string, it *string, t time.Time) (seq string, found, ended bool, err error) {
	pause := r.ReadPause
	if pause <= 0 {
		pause = 200 * time.Millisecond
	}
	for first := true; it != nil; first = false {
		if !first {
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return "", false, false, ctx.Err()
			}
		}
		out, err := r.Kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(10000)})
		if err != nil {
			return "", false, false, &ShardError{shard, fmt.Errorf("GetRecords: %w", err)}
		}
		for _, rec := range out.Records {
			if !aws.ToTime(rec.ApproximateArrivalTimestamp).Before(t) {
				return seq, found, false, nil
			}
			seq, found = aws.ToString(rec.SequenceNumber), true
		}
		if out.NextShardIterator == nil {
			return seq, found, true, nil
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return seq, found, false, nil
		}
		it = out.NextShardIterator
	}
	return seq, found, false, nil
}

// Lag is how far a shard's checkpoint is behind the stream.
type Lag struct {
	// Next is the arrival time of the first record after the checkpoint
	// (zero when there is none: caught up).
	Next time.Time
	// MillisBehindLatest is Kinesis's figure for a read at the checkpoint.
	MillisBehindLatest int64
}

// CheckpointLag reads one record after checkpoint (one GetShardIterator and
// one GetRecords of Limit 1: it shares the shard's 5 reads per second with
// the consumer).
func CheckpointLag(ctx context.Context, kc *kinesis.Client, stream, shard, checkpoint string) (Lag, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(checkpoint)}
	it, err := kc.GetShardIterator(ctx, in)
	if err != nil {
		return Lag{}, &ShardError{shard, fmt.Errorf("iterator after the checkpoint: %w", err)}
	}
	out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil {
		return Lag{}, &ShardError{shard, fmt.Errorf("GetRecords: %w", err)}
	}
	l := Lag{MillisBehindLatest: aws.ToInt64(out.MillisBehindLatest)}
	if len(out.Records) > 0 {
		l.Next = aws.ToTime(out.Records[0].ApproximateArrivalTimestamp)
	}
	return l, nil
}

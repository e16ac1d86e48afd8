package harness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// Load says how a Run replays a Dataset.
type Load struct {
	// Shards is the number of shard goroutines (default 1). Shard k replays
	// batches k, k+Shards, k+2·Shards, … of the dataset.
	Shards int
	// Duration, when > 0, makes each shard cycle through its batches until
	// it has passed; otherwise each shard replays its batches once.
	Duration time.Duration
	// BytesPerSecond, when > 0, paces each shard: a batch is handed over no
	// earlier than its place in a stream of that many payload bytes per
	// second (a shard's write limit is 1 MB/s). 0 replays as fast as
	// processing allows.
	BytesPerSecond float64
	// MaxInFlight bounds each shard's unacked batches (default 8, as
	// source.max_in_flight_batches). An output that acks late (a window
	// operator acks after its flush to Redis) throttles its shards by it,
	// exactly as in the pipeline.
	MaxInFlight int
	// Commands, when set, returns a server-side command count (Redis INFO
	// commandstats); Run reports its delta.
	Commands func(ctx context.Context) (int64, error)
	// InputBytes, when set, returns the bytes a server has read from its
	// clients (Redis INFO stats); Run reports its delta.
	InputBytes func(ctx context.Context) (int64, error)
}

// Result is what one Run measured. CPU and Allocs are the whole process's,
// between the start and the end of the run.
type Result struct {
	Shards        int
	Records, Rows int64
	Dead          int64
	Bytes         int64 // payload bytes handed over
	Wall, CPU     time.Duration
	Allocs        uint64
	Commands      int64 // -1 when not measured
	RedisBytes    int64 // bytes written to Redis; -1 when not measured
	StartRSS      int64
	PeakRSS       int64 // -1 when the peak could not be reset before the run
	// Behind is, when paced, the largest delay of a hand-over after its
	// scheduled time: 0 means every shard kept pace.
	Behind time.Duration
}

// RecordsPerSec is wall-clock throughput.
func (r Result) RecordsPerSec() float64 { return float64(r.Records) / r.Wall.Seconds() }

// MBPerSec is wall-clock payload throughput in 10^6 bytes/s.
func (r Result) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Wall.Seconds() }

// RecordsPerCPUSec is throughput per core: records per second of process
// CPU time (user + system, GC included).
func (r Result) RecordsPerCPUSec() float64 { return float64(r.Records) / r.CPU.Seconds() }

// CPUUtil is the average number of cores busy during the run.
func (r Result) CPUUtil() float64 { return r.CPU.Seconds() / r.Wall.Seconds() }

// AllocsPerRecord is heap allocations per record.
func (r Result) AllocsPerRecord() float64 { return float64(r.Allocs) / float64(r.Records) }

// RedisBytesPerRecord is bytes written to Redis per record (-1 when not
// measured).
func (r Result) RedisBytesPerRecord() float64 {
	if r.RedisBytes < 0 {
		return -1
	}
	return float64(r.RedisBytes) / float64(r.Records)
}

// CommandsPerRecord is Redis commands per record (-1 when not measured).
func (r Result) CommandsPerRecord() float64 {
	if r.Commands < 0 {
		return -1
	}
	return float64(r.Commands) / float64(r.Records)
}

// Run replays ds through p under load, one goroutine per shard, and waits
// for every shard to finish and every batch to be acked. Cancelling ctx
// stops the shards early.
func Run(ctx context.Context, p *Path, ds *Dataset, load Load) (Result, error) {
	shards := max(load.Shards, 1)
	maxInFlight := load.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = 8
	}
	res := Result{Shards: shards, Commands: -1, RedisBytes: -1, PeakRSS: -1}
	decs := make([]shard, shards)
	for i := range decs {
		d, err := p.NewDecoder()
		if err != nil {
			return res, err
		}
		decs[i].dec = d
		defer d.Release()
	}
	var cmd0 int64
	if load.Commands != nil {
		c, err := load.Commands(ctx)
		if err != nil {
			return res, fmt.Errorf("harness: commands: %w", err)
		}
		cmd0 = c
	}
	var in0 int64
	if load.InputBytes != nil {
		b, err := load.InputBytes(ctx)
		if err != nil {
			return res, fmt.Errorf("harness: input bytes: %w", err)
		}
		in0 = b
	}
	run := p.runs.Add(1)
	rows0, dead0 := p.rows.Load(), p.dead.Load()
	reset := ResetPeakRSS()
	res.StartRSS, _ = RSS()
	u0 := snapshot()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, shards)
	for k := range shards {
		wg.Go(func() {
			s := &decs[k]
			s.err = s.replay(ctx, p, ds, load, run, k, shards, maxInFlight)
			if s.err != nil {
				errs[k] = s.err
				cancel()
			}
		})
	}
	wg.Wait()
	u1 := snapshot()
	_, peak := RSS()
	if reset {
		res.PeakRSS = peak
	}
	res.Wall, res.CPU, res.Allocs = u1.at.Sub(u0.at), u1.cpu-u0.cpu, u1.allocs-u0.allocs
	for _, s := range decs {
		res.Records += s.records
		res.Bytes += s.bytes
		res.Behind = max(res.Behind, s.behind)
	}
	res.Rows, res.Dead = p.rows.Load()-rows0, p.dead.Load()-dead0
	if load.Commands != nil {
		c, err := load.Commands(context.Background())
		if err != nil {
			return res, fmt.Errorf("harness: commands: %w", err)
		}
		// The INFO calls themselves are not the path's commands: the
		// first one, and the one of InputBytes.
		res.Commands = c - cmd0 - 1
		if load.InputBytes != nil {
			res.Commands--
		}
	}
	if load.InputBytes != nil {
		b, err := load.InputBytes(context.Background())
		if err != nil {
			return res, fmt.Errorf("harness: input bytes: %w", err)
		}
		res.RedisBytes = b - in0 // includes the INFO calls' few bytes
	}
	return res, errors.Join(errs...)
}

// shard is one shard goroutine's state; only that goroutine touches it
// until Run's WaitGroup returns.
type shard struct {
	dec            *decode.Decoder
	records, bytes int64
	behind         time.Duration
	err            error
}

// replay hands over shard k's batches: once, or cycling until
// load.Duration passed; paced when load.BytesPerSecond > 0. It returns
// after the last of its batches was acked.
func (s *shard) replay(ctx context.Context, p *Path, ds *Dataset, load Load, run int64, k, shards, maxInFlight int) error {
	fl := newInflight(maxInFlight)
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var err error
	for pass := 0; err == nil; pass++ {
		if pass > 0 && (load.Duration <= 0 || time.Since(start) >= load.Duration) {
			break
		}
		name := ShardName(run, pass*shards+k)
		for i := k; i < len(ds.Batches); i += shards {
			recs := ds.Batches[i]
			if load.BytesPerSecond > 0 {
				due := start.Add(time.Duration(float64(s.bytes) / load.BytesPerSecond * float64(time.Second)))
				if wait := time.Until(due); wait > 0 {
					if timer == nil {
						timer = time.NewTimer(wait)
					} else {
						timer.Reset(wait)
					}
					select {
					case <-timer.C:
					case <-ctx.Done():
						err = ctx.Err()
					}
				} else {
					s.behind = max(s.behind, -wait)
				}
			}
			if err != nil {
				break
			}
			if load.Duration > 0 && time.Since(start) >= load.Duration {
				break
			}
			var ack flow.Ack
			if ack, err = fl.acquire(ctx); err != nil {
				break
			}
			if err = p.Handle(ctx, s.dec, name, recs, ack); err != nil {
				ack(err)
				break
			}
			s.records += int64(len(recs))
			for j := range recs {
				s.bytes += int64(len(recs[j].Data))
			}
		}
		if load.Duration <= 0 {
			break
		}
	}
	return errors.Join(err, fl.wait())
}

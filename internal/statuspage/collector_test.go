package statuspage

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// clock is a settable time source for Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func collector(c *clock, step, window time.Duration) *Collector {
	return New(Options{Pipeline: "p", Worker: "w", Now: c.Now, Step: step, Window: window})
}

func shardByID(t *testing.T, s Snapshot, id string) ShardStatus {
	t.Helper()
	for _, sh := range s.Shards {
		if sh.ID == id {
			return sh
		}
	}
	t.Fatalf("shard %s not in snapshot (%d shards)", id, len(s.Shards))
	return ShardStatus{}
}

func TestSeriesBucketsByTime(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC) // a multiple of the step
	clk := newClock(t0)
	c := collector(clk, 5*time.Second, time.Minute) // 12 buckets
	c.LeaseGained("s-1")

	c.RecordsRead("s-1", 100, 1000, 5000)
	clk.Add(time.Second)
	c.RecordsRead("s-1", 50, 500, 7000) // same bucket: summed, max lag
	clk.Add(4 * time.Second)
	c.RecordsRead("s-1", 0, 0, 0) // next bucket, an empty read
	clk.Add(10 * time.Second)     // one bucket with no reads at all
	c.RecordsRead("s-1", 25, 250, 200)

	s := c.Snapshot()
	sh := shardByID(t, s, "s-1")
	if len(sh.RecordsPerSecond) != 12 || len(sh.MillisBehindSeries) != 12 {
		t.Fatalf("series of %d and %d buckets, want 12", len(sh.RecordsPerSecond), len(sh.MillisBehindSeries))
	}
	// Now is t0+15s, bucket 3 of the stream of periods; it is the last of
	// the window, so t0's bucket is the 4th from the end.
	last := len(sh.RecordsPerSecond) - 1
	wantRate := []float64{30, 0, 0, 5}
	wantLag := []any{int64(7000), int64(0), nil, int64(200)}
	for i := range 4 {
		j := last - 3 + i
		if sh.RecordsPerSecond[j] != wantRate[i] {
			t.Errorf("records/s bucket %d = %v, want %v", j, sh.RecordsPerSecond[j], wantRate[i])
		}
		got := sh.MillisBehindSeries[j]
		switch w := wantLag[i].(type) {
		case nil:
			if got != nil {
				t.Errorf("lag bucket %d = %d, want none (no read)", j, *got)
			}
		case int64:
			if got == nil || *got != w {
				t.Errorf("lag bucket %d = %v, want %d", j, got, w)
			}
		}
	}
	for j := range last - 3 {
		if sh.RecordsPerSecond[j] != 0 || sh.MillisBehindSeries[j] != nil {
			t.Errorf("bucket %d before the first read holds data", j)
		}
	}
	if want := t0.Add(15*time.Second - 55*time.Second); !s.SeriesStart.Equal(want) {
		t.Errorf("series start %s, want %s", s.SeriesStart, want)
	}
	if sh.RecordsRead != 175 || sh.BytesRead != 1750 || sh.MillisBehind != 200 || !sh.Held {
		t.Errorf("shard state %+v", sh)
	}
	if s.Totals.RecordsRead != 175 || s.Totals.LeasesHeld != 1 {
		t.Errorf("totals %+v", s.Totals)
	}

	// A full window later, every bucket of the ring was reused: the old
	// periods must not show through.
	clk.Add(time.Minute)
	c.RecordsRead("s-1", 60, 0, 1)
	sh = shardByID(t, c.Snapshot(), "s-1")
	for j, v := range sh.RecordsPerSecond {
		if want := map[bool]float64{true: 12, false: 0}[j == last]; v != want {
			t.Errorf("after a window: records/s bucket %d = %v, want %v", j, v, want)
		}
	}
}

func TestLeasesAndEviction(t *testing.T) {
	clk := newClock(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	c := collector(clk, time.Second, 10*time.Second)
	c.LeaseGained("a")
	c.LeaseGained("b")
	c.RecordsRead("a", 10, 10, 0)
	c.BatchAcked("a", 10, time.Millisecond, nil)
	c.BatchAcked("b", 3, time.Millisecond, errors.New("output gave up"))
	c.Checkpointed("a", 2*time.Second)
	c.LeaseLost("b", metrics.LeaseExpired)

	s := c.Snapshot()
	if s.Totals.LeasesHeld != 1 || s.Totals.LeasesGained != 2 || s.Totals.RecordsAcked != 10 ||
		s.Totals.BatchesFailed != 1 || s.Totals.Checkpoints != 1 {
		t.Fatalf("totals %+v", s.Totals)
	}
	a, b := shardByID(t, s, "a"), shardByID(t, s, "b")
	if a.RecordsAcked != 10 || a.Checkpoints != 1 || a.LastCheckpoint == nil || a.CheckpointLagMS != 2000 {
		t.Errorf("shard a %+v", a)
	}
	if b.Held || b.LostReason != metrics.LeaseExpired || b.BatchesFailed != 1 {
		t.Errorf("shard b %+v, want lost (expired) with one failed batch", b)
	}

	// b stays visible for a window after its loss, then goes; a is held
	// and stays however quiet it is.
	clk.Add(9 * time.Second)
	if len(c.Snapshot().Shards) != 2 {
		t.Fatal("lost shard dropped before a window passed")
	}
	clk.Add(2 * time.Second)
	s = c.Snapshot()
	if len(s.Shards) != 1 || s.Shards[0].ID != "a" {
		t.Fatalf("shards after a window: %+v, want only a", s.Shards)
	}
	// Totals survive the shard's removal; a hook for a dropped shard
	// creates it afresh.
	if s.Totals.BatchesFailed != 1 {
		t.Errorf("totals lost the dropped shard's counts: %+v", s.Totals)
	}
	c.LeaseGained("b")
	if b := shardByID(t, c.Snapshot(), "b"); !b.Held || b.BatchesFailed != 0 {
		t.Errorf("re-gained shard %+v", b)
	}
}

func TestLabelsAndLimits(t *testing.T) {
	c := New(Options{MaxShards: 2})
	c.RowsOut("s3", 5)
	c.RowsOut("s3", 7)
	c.DeadLetter("invalid_json: unexpected end", 2)
	c.DeadLetter("invalid_json", 1)
	c.DeadLetter("missing_field: user_id", 4)
	c.FirehoseCall("ds", metrics.FirehoseCall{Records: 10, FailedRecords: 2, BilledBytes: 5120})
	c.FirehoseCall("ds", metrics.FirehoseCall{Records: 2, Attempt: 1, Err: errors.New("throttled")})
	c.RedisCall("checkpoint", time.Millisecond, nil)
	c.RedisCall("checkpoint", time.Millisecond, errors.New("down"))
	c.WindowFlush("counts", 40)
	c.WindowEmit("counts", 12)
	c.WindowEmit("counts", 3)
	c.LateRows("counts", 2, metrics.LateDrop)
	c.LateRows("counts", 1, metrics.LateDeadLetter)
	for i := range labelLimit + 5 {
		c.RowsOut(fmt.Sprintf("o%03d", i), 1)
	}
	for _, id := range []string{"x", "y", "z"} {
		c.RecordsRead(id, 1, 1, 0)
	}

	s := c.Snapshot()
	if len(s.Outputs) != labelLimit+1 {
		t.Errorf("%d outputs, want %d (the limit, then other)", len(s.Outputs), labelLimit+1)
	}
	rows := map[string]int64{}
	for _, o := range s.Outputs {
		rows[o.Name] = o.Rows
	}
	if rows["s3"] != 12 || rows[otherLabel] != 6 {
		t.Errorf("rows: s3 %d, other %d; want 12 and 6", rows["s3"], rows[otherLabel])
	}
	if len(s.DeadLetter) != 2 || s.DeadLetter[0] != (ReasonCount{"invalid_json", 3}) ||
		s.DeadLetter[1] != (ReasonCount{"missing_field", 4}) || s.Totals.DeadLetters != 7 {
		t.Errorf("dead letters %+v, total %d", s.DeadLetter, s.Totals.DeadLetters)
	}
	if want := (StreamStatus{Stream: "ds", Calls: 2, Errors: 1, Retries: 1, Records: 8, FailedRecords: 4, BilledBytes: 5120}); len(s.Firehose) != 1 || s.Firehose[0] != want {
		t.Errorf("firehose %+v, want %+v", s.Firehose, want)
	}
	if len(s.Redis) != 1 || s.Redis[0] != (RedisStatus{"checkpoint", 2, 1}) {
		t.Errorf("redis %+v", s.Redis)
	}
	if s.Totals.WindowsEmitted != 2 || s.Totals.WindowRows != 15 || s.Totals.LateRows != 3 ||
		len(s.Windows) != 1 || s.Windows[0].KeysFlushed != 40 || s.Windows[0].LateDropped != 2 {
		t.Errorf("windows %+v, totals %+v", s.Windows, s.Totals)
	}
	if len(s.Shards) != 2 || s.Totals.UntrackedShards != 1 || s.Totals.RecordsRead != 3 {
		t.Errorf("%d shards, %d untracked, %d read; want 2, 1, 3", len(s.Shards), s.Totals.UntrackedShards, s.Totals.RecordsRead)
	}
}

// TestHooksDoNotAllocate: the metrics.Hooks rule, for values seen before.
func TestHooksDoNotAllocate(t *testing.T) {
	c := New(Options{})
	c.LeaseGained("shardId-000000000001")
	call := metrics.FirehoseCall{Records: 3}
	hooks := func() {
		c.RecordsRead("shardId-000000000001", 10, 100, 5)
		c.BatchAcked("shardId-000000000001", 10, time.Millisecond, nil)
		c.Checkpointed("shardId-000000000001", time.Second)
		c.RowsOut("s3", 10)
		c.FirehoseCall("ds", call)
		c.DeadLetter("invalid_json: bad", 1)
		c.RedisCall("checkpoint", time.Millisecond, nil)
		c.WindowEmit("w", 1)
		c.LateRows("w", 1, metrics.LateDrop)
	}
	hooks()
	if n := testing.AllocsPerRun(100, hooks); n != 0 {
		t.Fatalf("hooks allocate %v times per round for seen labels, want 0", n)
	}
}

// TestConcurrentHooksAndSnapshots runs under -race: hooks from many
// goroutines while snapshots evict, and the totals add up.
func TestConcurrentHooksAndSnapshots(t *testing.T) {
	clk := newClock(time.Now())
	c := collector(clk, time.Millisecond, 5*time.Millisecond)
	const workers, rounds = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = c.Snapshot()
			}
		}
	})
	var hooks sync.WaitGroup
	for w := range workers {
		hooks.Go(func() {
			id := fmt.Sprintf("shard-%d", w%3)
			for i := range rounds {
				if i%100 == 0 {
					c.LeaseGained(id)
				}
				c.RecordsRead(id, 1, 2, int64(i))
				c.BatchAcked(id, 1, 0, nil)
				if i%100 == 99 {
					c.LeaseLost(id, metrics.LeaseReleased)
					clk.Add(time.Millisecond)
				}
			}
		})
	}
	hooks.Wait()
	close(stop)
	wg.Wait()
	s := c.Snapshot()
	if s.Totals.RecordsRead != workers*rounds || s.Totals.RecordsAcked != workers*rounds || s.Totals.BytesRead != 2*workers*rounds {
		t.Fatalf("totals %+v, want %d records read and acked", s.Totals, workers*rounds)
	}
}

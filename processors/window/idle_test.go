package window

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/metrics"
)

// TestGlobalWatermarkFromReaderState: with the owners' reader state in the
// marks, a shard is idle only when caught up, read recently and quiet for
// idle_timeout; behind, stalled and ownerless shards hold the watermark,
// and the holder is named.
func TestGlobalWatermarkFromReaderState(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ms := now.UnixMilli()
	const idle, ooo = time.Minute, 2 * time.Second
	us := func(sec int64) int64 { return sec * 1_000_000 }
	// flowing: rows and reads now, caught up for long.
	flowing := func(wm int64) shardMark {
		return shardMark{hasWM: true, wm: us(wm), active: ms, hasSeen: true, seen: ms, read: ms, caught: ms - 300_000}
	}
	shards := []ShardInfo{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	for _, tc := range []struct {
		name  string
		b     shardMark // shard b's mark; a (wm 100) and c (wm 70) are flowing
		want  int64
		ok    bool
		holds watermarkHold
	}{
		{"behind shard holds", shardMark{hasWM: true, wm: us(50), active: ms - 120_000, hasSeen: true, seen: ms, read: ms, caught: 0},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldBehind}},
		{"caught-up shard quiet for idle_timeout is idle", shardMark{hasWM: true, wm: us(50), active: ms - 61_000, hasSeen: true, seen: ms, read: ms, caught: ms - 61_000},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
		{"caught-up shard with recent rows holds", shardMark{hasWM: true, wm: us(50), active: ms - 30_000, hasSeen: true, seen: ms, read: ms, caught: ms - 300_000},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldEventTime}},
		{"caught up only just after a backlog holds", shardMark{hasWM: true, wm: us(50), active: ms - 300_000, hasSeen: true, seen: ms, read: ms, caught: ms - 5_000},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldEventTime}},
		{"stalled reader holds (no read for idle_timeout)", shardMark{hasWM: true, wm: us(50), active: ms - 300_000, hasSeen: true, seen: ms, read: ms - 61_000, caught: ms - 300_000},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldStalled}},
		{"reader that never read since its lease holds", shardMark{hasWM: true, wm: us(50), active: ms - 300_000, hasSeen: true, seen: ms, read: 0, caught: 0},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldStalled}},
		{"stale mark holds (owner stopped refreshing)", shardMark{hasWM: true, wm: us(50), active: ms - 300_000, hasSeen: true, seen: ms - 61_000, read: ms - 61_000, caught: ms - 300_000},
			us(50) - ooo.Microseconds(), true, watermarkHold{"b", metrics.HeldNoOwner}},
		{"mark without owner for 10 idle timeouts is left out", shardMark{hasWM: true, wm: us(50), active: ms - 700_000, hasSeen: true, seen: ms - 601_000, read: ms - 601_000, caught: 0},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
		{"old-format mark: idle from active alone", shardMark{hasWM: true, wm: us(50), active: ms - 61_000},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
		{"old-format writer after a new one (active > seen): idle from active", shardMark{hasWM: true, wm: us(50), active: ms - 61_000, hasSeen: true, seen: ms - 120_000, caught: 0},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
		{"stalled shard without rows holds everything", shardMark{active: ms - 300_000, hasSeen: true, seen: ms, read: ms - 61_000, caught: 0},
			0, false, watermarkHold{"b", metrics.HeldStalled}},
		{"behind shard without rows holds everything", shardMark{active: ms - 300_000, hasSeen: true, seen: ms, read: ms, caught: 0},
			0, false, watermarkHold{"b", metrics.HeldBehind}},
		{"caught-up shard without rows is idle after idle_timeout", shardMark{active: ms - 61_000, hasSeen: true, seen: ms, read: ms, caught: ms - 61_000},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
		{"finished shard left out whatever its reader", shardMark{hasWM: true, wm: us(10), finished: true, hasSeen: true, seen: ms - 100_000},
			us(70) - ooo.Microseconds(), true, watermarkHold{"c", metrics.HeldEventTime}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marks := []shardMark{flowing(100), tc.b, flowing(70)}
			got, ok, holds := globalWatermark(now, shards, marks, map[string]time.Time{}, idle, ooo)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
			if holds != tc.holds {
				t.Fatalf("held by %+v, want %+v", holds, tc.holds)
			}
		})
	}
	t.Run("whole stream caught up and quiet: advances with wall time", func(t *testing.T) {
		quiet := func(wm int64, since int64) shardMark {
			return shardMark{hasWM: true, wm: us(wm), active: ms - since, hasSeen: true, seen: ms, read: ms, caught: ms - since}
		}
		marks := []shardMark{quiet(100, 90_000), quiet(80, 70_000), quiet(60, 65_000)}
		got, ok, holds := globalWatermark(now, shards, marks, map[string]time.Time{}, idle, ooo)
		if want := us(100) - ooo.Microseconds() + 65_000_000; !ok || got != want || holds != (watermarkHold{}) {
			t.Fatalf("got %d, %v, held by %+v; want %d, true, none", got, ok, holds, want)
		}
	})
}

// fakeClock is a wall clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// refreshAll runs every shard's due reader-state refresh now (the flush
// loop does it on its ticker).
func (op *Operator) refreshAll(ctx context.Context) {
	shards := op.shardList()
	for _, s := range shards {
		s.mu.Lock()
		op.refreshLocked(ctx, s)
		s.mu.Unlock()
	}
}

// TestStalledShardHoldsTheWatermark: two shards with event time = wall
// time; shard 1's reader stalls (no GetRecords answer) for 4 × idle_timeout
// while shard 0 flows, then resumes with a backlog. With reader state the
// stalled shard holds the watermark (named, reason stalled), none of its
// on-time rows is late, and the windows equal the reference; without it
// (the old rule: idle after idle_timeout without rows) the same input
// turns shard 1's rows late — the failure this guards against.
func TestStalledShardHoldsTheWatermark(t *testing.T) {
	env := testenv.Load(t)
	for _, withReader := range []bool{true, false} {
		name := "reader state"
		if !withReader {
			name = "old rule"
		}
		t.Run(name, func(t *testing.T) {
			client, prefix := env.Redis(t)
			r := newRig(t, client, prefix, 2)
			const idle = 10 * time.Second
			t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			clk := &fakeClock{t: t0}
			r.options = func(o *Options) { o.Now, o.IdleTimeout = clk.Now, idle }
			w := r.worker("w", r.out)
			defer w.op.Close(context.Background())
			ctx := context.Background()

			// 6,000 events 20 ms apart (2 minutes), spread over the two
			// shards; event time increases within each shard.
			evs := generate(6000, 2, 5)
			for i := range evs {
				evs[i].TS = t0.Add(time.Duration(i) * 20 * time.Millisecond)
			}
			s0, s1 := r.shards[0].ID, r.shards[1].ID
			if withReader {
				w.op.ShardStarted(s0)
				w.op.ShardStarted(s1)
			}
			var acks sync.WaitGroup
			// step writes the events of [from, to) of the shards named,
			// at wall time = their event time, one batch per 500 ms,
			// reporting each read (behind: MillisBehindLatest), and runs
			// an emission cycle after each.
			step := func(from, to time.Time, behind map[string]int64, shards ...string) {
				t.Helper()
				for at := from; at.Before(to); at = at.Add(500 * time.Millisecond) {
					clk.set(at.Add(500 * time.Millisecond))
					for _, sh := range shards {
						var part []event
						for _, e := range evs {
							if e.shard == sh && !e.TS.Before(at) && e.TS.Before(at.Add(500*time.Millisecond)) && e.TS.Before(to) {
								part = append(part, e)
							}
						}
						if withReader {
							w.op.ShardRead(sh, len(part), behind[sh])
						}
						for _, b := range batches(t, part, sh, 1000) {
							acks.Add(1)
							if err := w.op.Write(ctx, b, func(err error) {
								if err != nil {
									t.Errorf("ack: %v", err)
								}
								acks.Done()
							}); err != nil {
								t.Fatal(err)
							}
						}
					}
					if err := w.op.Flush(ctx); err != nil {
						t.Fatal(err)
					}
					w.op.refreshAll(ctx)
					if _, err := w.emit.RunOnce(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Both flow for 40 s; shard 1 stalls for 40 s (4 × idle_timeout)
			// while shard 0 flows; then shard 1 reads its backlog (behind)
			// and both flow to the end.
			step(t0, t0.Add(40*time.Second), nil, s0, s1)
			step(t0.Add(40*time.Second), t0.Add(80*time.Second), nil, s0)
			st := w.emit.Stats()
			var s1Max time.Time
			for _, e := range evs {
				if e.shard == s1 && e.TS.Before(t0.Add(40*time.Second)) && e.TS.After(s1Max) {
					s1Max = e.TS
				}
			}
			if withReader {
				if st.HeldBy != s1 || st.HeldReason != metrics.HeldStalled {
					t.Errorf("after the stall the watermark is held by %q (%s), want %s (stalled)", st.HeldBy, st.HeldReason, s1)
				}
				if limit := s1Max.Truncate(time.Millisecond).Add(-2 * time.Second); st.Watermark.After(limit) {
					t.Errorf("watermark %s passed the stalled shard's %s", st.Watermark, limit)
				}
			}
			w.op.ShardRead(s1, 0, 40_000) // the first read after the stall: a backlog
			step(t0.Add(40*time.Second), t0.Add(80*time.Second), map[string]int64{s1: 20_000}, s1)
			step(t0.Add(80*time.Second), t0.Add(120*time.Second), nil, s0, s1)
			acks.Wait()
			// Input stops; the readers keep answering empty and caught up:
			// after idle_timeout the quiet stream's watermark runs on with
			// wall time and closes the last windows.
			end := lastWindowEnd(evs)
			for at := t0.Add(120 * time.Second); w.emit.Stats().Emitted.Before(end); at = at.Add(time.Second) {
				if at.After(t0.Add(10 * time.Minute)) {
					t.Fatalf("windows up to %s not emitted 8 minutes after the input stopped: %+v", end, w.emit.Stats())
				}
				clk.set(at)
				if withReader {
					w.op.ShardRead(s0, 0, 0)
					w.op.ShardRead(s1, 0, 0)
				}
				w.op.refreshAll(ctx)
				if _, err := w.emit.RunOnce(ctx); err != nil {
					t.Fatal(err)
				}
			}
			late := lateSet(t, readDeadLetters(t, r.dlPath))
			if !withReader {
				if len(late) == 0 {
					t.Fatal("the old rule dead-lettered nothing: the stall did not happen, this test proves nothing")
				}
				for k := range late {
					if k[:len(s1)] != s1 {
						t.Fatalf("late row %s is not of the stalled shard", k)
					}
				}
				t.Logf("old rule: %d of the stalled shard's on-time rows dead-lettered as late", len(late))
				return
			}
			if len(late) != 0 {
				t.Fatalf("%d on-time rows dead-lettered as late", len(late))
			}
			compare(t, r.out, reference(evs, nil))
		})
	}
}

// TestOperatorWritesReaderState: the mark carries what ShardRead saw —
// after ShardStarted nothing read and not caught up; a caught-up read is
// written with the next refresh, a read that is behind too (promptly,
// within a flush interval); a flush with rows carries it; a release turns
// it not caught up.
func TestOperatorWritesReaderState(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 1)
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := &fakeClock{t: t0}
	r.options = func(o *Options) { o.Now, o.IdleTimeout, o.FlushInterval = clk.Now, 8*time.Second, time.Second }
	w := r.worker("w", r.out)
	defer w.op.Close(context.Background())
	ctx := context.Background()
	sh := r.shards[0].ID
	mark := func() shardMark {
		t.Helper()
		m, err := readMark(ctx, client, w.op.keys.mark(sh))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

	w.op.ShardStarted(sh)
	if m := mark(); !m.hasSeen || m.seen != ms(0) || m.read != 0 || m.caught != 0 || m.active != ms(0) {
		t.Fatalf("after ShardStarted: %+v; want seen = active = t0, nothing read, not caught up", m)
	}
	clk.set(t0.Add(500 * time.Millisecond))
	w.op.ShardRead(sh, 0, 0)
	w.op.refreshAll(ctx) // changed, but less than a flush interval since the last write
	if m := mark(); m.caught != 0 {
		t.Fatalf("refreshed within a flush interval of the last write: %+v", m)
	}
	clk.set(t0.Add(1500 * time.Millisecond))
	w.op.refreshAll(ctx)
	if m := mark(); m.seen != ms(1500*time.Millisecond) || m.read != ms(500*time.Millisecond) || m.caught != ms(500*time.Millisecond) {
		t.Fatalf("after a caught-up read: %+v; want seen 1.5 s, read and caught 0.5 s", m)
	}
	// Caught up and unchanged: nothing written until idle_timeout/4 (2 s).
	clk.set(t0.Add(3 * time.Second))
	w.op.ShardRead(sh, 0, 0)
	w.op.refreshAll(ctx)
	if m := mark(); m.seen != ms(1500*time.Millisecond) {
		t.Fatalf("refreshed an unchanged state before idle_timeout/4: %+v", m)
	}
	clk.set(t0.Add(3600 * time.Millisecond))
	w.op.refreshAll(ctx)
	if m := mark(); m.seen != ms(3600*time.Millisecond) || m.read != ms(3*time.Second) || m.caught != ms(500*time.Millisecond) {
		t.Fatalf("after idle_timeout/4: %+v; want seen 3.6 s, read 3 s, caught since 0.5 s", m)
	}
	// Behind: written at the next refresh past a flush interval.
	clk.set(t0.Add(4700 * time.Millisecond))
	w.op.ShardRead(sh, 10, 5000)
	w.op.refreshAll(ctx)
	if m := mark(); m.caught != 0 || m.read != ms(4700*time.Millisecond) {
		t.Fatalf("after a read behind: %+v; want not caught up, read 4.7 s", m)
	}
	// A flush with rows carries the state with active.
	clk.set(t0.Add(5 * time.Second))
	w.op.ShardRead(sh, 10, 0)
	evs := generate(10, 1, 3)
	done := make(chan error, 1)
	if err := w.op.Write(ctx, batches(t, evs, sh, 10)[0], func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := w.op.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if m := mark(); m.active != ms(5*time.Second) || m.seen != m.active || m.caught != ms(5*time.Second) || m.read != ms(5*time.Second) {
		t.Fatalf("after a flush with rows: %+v; want active = seen = read = caught = 5 s", m)
	}
	// A caught-up read with records starts the quiet stretch again, before
	// its rows are flushed.
	clk.set(t0.Add(6 * time.Second))
	w.op.ShardRead(sh, 3, 0)
	if got := w.op.shard(sh).caughtMS.Load(); got != ms(6*time.Second) {
		t.Fatalf("caught up since %d after a read with records at 6 s, want %d", got, ms(6*time.Second))
	}
	w.op.ShardReleased(sh)
	if m := mark(); m.caught != 0 {
		t.Fatalf("after release: %+v; want not caught up", m)
	}
	// Released: no more refreshes.
	clk.set(t0.Add(time.Minute))
	w.op.refreshAll(ctx)
	if m := mark(); m.seen != ms(5*time.Second) {
		t.Fatalf("a released shard's mark was refreshed: %+v", m)
	}
}

package window

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Late updates (late_rows: update). A flush that holds rows of a window
// already closed, but within the update horizon, appends their delta to
// the window's late list and adds the window to the shard's updated set,
// atomically with the shard's mark. Each emitter cycle reads the updated
// sets; for each updated window that was emitted, it merges every shard's
// deltas and late deltas, writes the rows of the groups the late deltas
// touched (same row ids, revision = number of deltas merged, so higher
// than any earlier emission of the row), and after the ack folds the late
// deltas it read into the window's delta lists. A crash before the fold
// re-emits the same rows with the same revision.

// emitUpdates re-emits the updated windows that ended at or before
// emitted.
func (e *Emitter) emitUpdates(ctx context.Context, token int64, shards []ShardInfo, updated map[int64]int64, emitted int64) (int, error) {
	op := e.op
	if len(updated) == 0 {
		return 0, nil
	}
	starts := make([]int64, 0, len(updated))
	for start, end := range updated {
		if end <= emitted {
			starts = append(starts, start)
		}
	}
	if len(starts) == 0 {
		return 0, nil
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	type read struct {
		main, late *redis.StringSliceCmd
	}
	pipe := op.o.Redis.Pipeline()
	reads := make([][]read, len(starts))
	for i, start := range starts {
		reads[i] = make([]read, len(shards))
		for j, s := range shards {
			reads[i][j] = read{
				main: pipe.LRange(ctx, op.keys.list(s.ID, start), 0, -1),
				late: pipe.LRange(ctx, op.keys.late(s.ID, start), 0, -1),
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("window %s: read updated windows: %w", op.o.Name, err)
	}
	windows := make([]closedWindow, 0, len(starts))
	for i, start := range starts {
		w := closedWindow{start: start, groups: map[string][]state{}, only: map[string]bool{}}
		for j := range shards {
			for _, blob := range reads[i][j].main.Val() {
				if err := mergeDelta([]byte(blob), op.plans, w.groups); err != nil {
					return 0, fmt.Errorf("window %s: shard %s: window %d: %w", op.o.Name, shards[j].ID, start, err)
				}
				w.revision++
			}
			for _, blob := range reads[i][j].late.Val() {
				if err := mergeDelta([]byte(blob), op.plans, w.groups); err != nil {
					return 0, fmt.Errorf("window %s: shard %s: window %d: %w", op.o.Name, shards[j].ID, start, err)
				}
				touched := map[string][]state{}
				if err := mergeDelta([]byte(blob), op.plans, touched); err != nil {
					return 0, err
				}
				for k := range touched {
					w.only[k] = true
				}
				w.revision++
			}
		}
		if len(w.only) > 0 {
			windows = append(windows, w)
		}
	}
	rows := 0
	if len(windows) > 0 {
		var err error
		if rows, err = e.write(ctx, token, windows); err != nil {
			return 0, err
		}
	}
	pipe = op.o.Redis.Pipeline()
	for i, start := range starts {
		for j, s := range shards {
			n := len(reads[i][j].late.Val())
			if n == 0 {
				continue
			}
			foldScript.Eval(ctx, pipe, []string{op.keys.late(s.ID, start), op.keys.list(s.ID, start),
				op.keys.updated(s.ID), op.keys.windows(s.ID)}, n, start, start+op.sizeUS)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return rows, fmt.Errorf("window %s: fold late deltas: %w", op.o.Name, err)
	}
	e.mu.Lock()
	e.stats.Rows += int64(rows)
	e.stats.Updates += int64(rows)
	e.mu.Unlock()
	op.o.Hooks.WindowEmit(op.o.Name, rows)
	return rows, nil
}

// cleanupPastHorizon deletes the state of windows ending at or before
// bound: late rows for them are dead-lettered from now on (the flush
// script refuses them), so nothing can update them any more.
func (e *Emitter) cleanupPastHorizon(ctx context.Context, shards []ShardInfo, bound int64) error {
	op := e.op
	pipe := op.o.Redis.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(shards))
	max := strconv.FormatInt(bound, 10)
	for i, s := range shards {
		cmds[i] = pipe.ZRangeByScore(ctx, op.keys.windows(s.ID), &redis.ZRangeBy{Min: "-inf", Max: max})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("window %s: list windows past the update horizon: %w", op.o.Name, err)
	}
	pipe = op.o.Redis.Pipeline()
	n := 0
	for i, s := range shards {
		for _, m := range cmds[i].Val() {
			start, err := strconv.ParseInt(m, 10, 64)
			if err != nil {
				return fmt.Errorf("window %s: shard %s: window %q: %w", op.o.Name, s.ID, m, err)
			}
			pipe.Del(ctx, op.keys.list(s.ID, start), op.keys.late(s.ID, start))
			pipe.ZRem(ctx, op.keys.updated(s.ID), m)
			n++
		}
		if len(cmds[i].Val()) > 0 {
			pipe.ZRemRangeByScore(ctx, op.keys.windows(s.ID), "-inf", max)
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("window %s: delete windows past the update horizon: %w", op.o.Name, err)
	}
	return nil
}

package window

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// ShardInfo is one shard of the stream as the emitter needs it.
type ShardInfo struct {
	ID string
	// Closed is true for a shard that was split or merged (it has an
	// ending sequence number); it still counts until it is finished.
	Closed bool
}

// EmitterOptions configures an Emitter.
type EmitterOptions struct {
	// Output receives the result batches.
	Output flow.Output
	// Shards lists the stream's shards (open, and closed ones still in
	// retention).
	Shards func(ctx context.Context) ([]ShardInfo, error)
	// Holder names this emitter in the lock (the worker id).
	Holder string
	// Interval between emission cycles (default 1s).
	Interval time.Duration
	// LockTTL is how long the lock outlives its holder (default 10s).
	LockTTL time.Duration
	// EmittedTTL is how long a window's deltas stay after emission
	// (default 10m).
	EmittedTTL time.Duration
}

// Emitter emits closed windows; one emitter per operator holds the lock at
// a time. See the package documentation.
type Emitter struct {
	op        *Operator
	eo        EmitterOptions
	firstSeen map[string]time.Time // shards without a mark: when first listed
	// maxToken and maxEmitted are the highest lock token and emission
	// progress this emitter has seen in Redis. Both only grow in one
	// store; seeing less means Redis lost its data (ErrStateLost), and
	// lost keeps the emitter from emitting on the emptied store.
	maxToken, maxEmitted int64
	seenEmitted          bool
	lost                 error

	mu      sync.Mutex
	stats   EmitterStats
	running bool
	stop    chan struct{}
	done    chan struct{}
}

// EmitterStats are an emitter's totals.
type EmitterStats struct {
	Holding   bool
	Token     int64
	Watermark time.Time // the global watermark last computed (zero: none yet)
	Emitted   time.Time // windows ending at or before it are emitted
	// HeldBy is the shard holding the watermark in the last cycle
	// (empty: none, e.g. a quiet stream) and HeldReason why: a
	// metrics.Held* reason.
	HeldBy, HeldReason string
	Rows               int64 // result rows written and acked (updates included)
	Updates            int64 // of which re-emissions of updated windows
	Cycles             int64
}

// NewEmitter builds the operator's emitter. Start runs it.
func (op *Operator) NewEmitter(eo EmitterOptions) (*Emitter, error) {
	if eo.Output == nil || eo.Shards == nil || eo.Holder == "" {
		return nil, fmt.Errorf("window %s: emitter needs an output, a shard lister and a holder name", op.o.Name)
	}
	if eo.Interval == 0 {
		eo.Interval = time.Second
	}
	if eo.LockTTL == 0 {
		eo.LockTTL = 10 * time.Second
	}
	if eo.EmittedTTL == 0 {
		eo.EmittedTTL = 10 * time.Minute
	}
	return &Emitter{op: op, eo: eo, firstSeen: map[string]time.Time{}}, nil
}

// Start runs emission cycles every Interval until Stop.
func (e *Emitter) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running {
		return
	}
	e.running = true
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-e.stop
		cancel()
	}()
	go func() {
		defer close(e.done)
		defer cancel()
		t := time.NewTicker(e.eo.Interval)
		defer t.Stop()
		for attempt := 0; ; {
			if _, err := e.RunOnce(ctx); errors.Is(err, ErrStateLost) {
				// logged once by storeLost; nothing more is emitted
			} else if err != nil && ctx.Err() == nil {
				attempt++
				if attempt == 1 || attempt%30 == 0 {
					e.op.log.Warn("window emission failed; retrying", "attempt", attempt, "err", err)
				}
			} else {
				attempt = 0
			}
			select {
			case <-e.stop:
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the emission loop (an emission in progress is abandoned: its
// windows are emitted again by the next holder, with the same row ids) and
// releases the lock if this emitter holds it, so that another task's
// emitter takes over at its next cycle rather than after LockTTL.
func (e *Emitter) Stop(ctx context.Context) error {
	e.mu.Lock()
	if !e.running {
		e.mu.Unlock()
		return nil
	}
	e.running = false
	close(e.stop)
	done := e.done
	e.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("window %s: emitter stop: %w", e.op.o.Name, ctx.Err())
	}
	if err := releaseScript.Run(ctx, e.op.o.Redis, []string{e.op.keys.emit()}, e.eo.Holder).Err(); err != nil {
		return fmt.Errorf("window %s: release the emitter lock: %w", e.op.o.Name, err)
	}
	return nil
}

// Stats returns the emitter's totals.
func (e *Emitter) Stats() EmitterStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
}

// errFenced says the lock was lost during a cycle.
var errFenced = errors.New("emitter lock lost")

// lockState is what lockScript answered for the holder.
type lockState struct {
	token                  int64
	closing, emitted, wm   int64
	hasClosing, hasEmitted bool
	hasWM                  bool
}

func (e *Emitter) lock(ctx context.Context) (lockState, bool, error) {
	if e.lost != nil {
		return lockState{}, false, e.lost
	}
	now := e.op.o.Now()
	v, err := lockScript.Run(ctx, e.op.o.Redis, []string{e.op.keys.emit()},
		e.eo.Holder, now.UnixMilli(), e.eo.LockTTL.Milliseconds(), e.maxToken).Result()
	if err != nil {
		return lockState{}, false, fmt.Errorf("window %s: emitter lock: %w", e.op.o.Name, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) < 2 {
		return lockState{}, false, fmt.Errorf("window %s: emitter lock: unexpected reply %v", e.op.o.Name, v)
	}
	tok, _ := a[0].(int64)
	if tok == 0 {
		return lockState{}, false, nil
	}
	if tok == -1 {
		return lockState{}, false, e.storeLost(fmt.Sprintf("the lock is gone after token %d", e.maxToken))
	}
	if tok < e.maxToken {
		return lockState{}, false, e.storeLost(fmt.Sprintf("lock token %d after %d", tok, e.maxToken))
	}
	e.maxToken = tok
	var ls lockState
	ls.token = tok
	parse := func(i int) (int64, bool) {
		s, _ := a[i].(string)
		if s == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if len(a) == 4 {
		ls.closing, ls.hasClosing = parse(1)
		ls.emitted, ls.hasEmitted = parse(2)
		ls.wm, ls.hasWM = parse(3)
	}
	if e.seenEmitted && (!ls.hasEmitted || ls.emitted < e.maxEmitted) {
		return lockState{}, false, e.storeLost(fmt.Sprintf("emission progress %d after %d", ls.emitted, e.maxEmitted))
	}
	if ls.hasEmitted {
		e.maxEmitted, e.seenEmitted = ls.emitted, true
	}
	return ls, true, nil
}

// storeLost records (and logs once) that Redis lost the window's state;
// every later cycle answers the same error without touching Redis.
func (e *Emitter) storeLost(seen string) error {
	if e.lost == nil {
		e.lost = fmt.Errorf("window %s: emitter: %w (%s)", e.op.o.Name, ErrStateLost, seen)
		e.op.log.Error("window state lost from Redis; this emitter emits nothing more "+
			"(restore Redis or rewind, then restart: docs/runbook.md)", "err", e.lost)
	}
	return e.lost
}

func (e *Emitter) progress(ctx context.Context, token int64, field string, v int64) error {
	ok, err := progressScript.Run(ctx, e.op.o.Redis, []string{e.op.keys.emit()},
		e.eo.Holder, token, e.op.o.Now().UnixMilli(), field, v).Int()
	if err != nil {
		return fmt.Errorf("window %s: emitter progress %s: %w", e.op.o.Name, field, err)
	}
	if ok != 1 {
		return errFenced
	}
	return nil
}

// RunOnce runs one emission cycle: take or renew the lock; compute the
// global watermark; if it closes windows, close them on every shard, merge
// the shards' deltas, write the results, wait for the ack and record the
// emission. It returns the rows emitted.
func (e *Emitter) RunOnce(ctx context.Context) (int, error) {
	op := e.op
	ls, holding, err := e.lock(ctx)
	e.mu.Lock()
	e.stats.Cycles++
	e.stats.Holding, e.stats.Token = holding, ls.token
	e.mu.Unlock()
	defer e.reportProgress()
	if err != nil || !holding {
		return 0, err
	}
	shards, err := e.eo.Shards(ctx)
	if err != nil {
		return 0, fmt.Errorf("window %s: list shards: %w", op.o.Name, err)
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].ID < shards[j].ID })
	marks, updated, err := e.readMarks(ctx, shards)
	if err != nil {
		return 0, err
	}
	now := op.o.Now()
	for i, s := range shards {
		if !marks[i].hasWM {
			if _, ok := e.firstSeen[s.ID]; !ok {
				e.firstSeen[s.ID] = now
			}
		} else {
			delete(e.firstSeen, s.ID)
		}
	}
	gw, ok, hold := globalWatermark(now, shards, marks, e.firstSeen, op.o.IdleTimeout, op.o.MaxOutOfOrderness)
	e.mu.Lock()
	e.stats.HeldBy, e.stats.HeldReason = hold.Shard, hold.Reason
	e.mu.Unlock()
	if ls.hasWM && (!ok || ls.wm > gw) {
		gw, ok = ls.wm, true
	}
	closing := int64(math.MinInt64)
	if ok {
		if op.gapUS > 0 {
			// Sessions end anywhere: close in steps of a quarter gap, so
			// that a cycle does not re-read fragments for every tick.
			q := max(op.gapUS/4, 1000)
			closing = floorDiv(gw-op.o.AllowedLateness.Microseconds(), q) * q
		} else {
			closing = op.alignedClose(gw - op.o.AllowedLateness.Microseconds())
		}
		e.mu.Lock()
		e.stats.Watermark = time.UnixMicro(gw).UTC()
		e.mu.Unlock()
	}
	if ls.hasClosing && ls.closing > closing {
		closing = ls.closing // a predecessor's emission to finish
	}
	emitted := int64(math.MinInt64)
	if ls.hasEmitted {
		emitted = ls.emitted
		e.mu.Lock()
		e.stats.Emitted = time.UnixMicro(emitted).UTC()
		e.mu.Unlock()
	}
	if closing == math.MinInt64 || closing <= emitted {
		return e.emitUpdates(ctx, ls.token, shards, updated, emitted)
	}
	if err := e.progress(ctx, ls.token, "wm", gw); err != nil {
		return 0, err
	}
	if err := e.progress(ctx, ls.token, "closing", closing); err != nil {
		return 0, err
	}
	if op.gapUS > 0 {
		if _, err := e.closeShards(ctx, shards, closing, emitted); err != nil {
			return 0, err
		}
		rows, err := e.emitSessions(ctx, ls.token, shards, closing, emitted)
		if err != nil {
			return rows, err
		}
		e.mu.Lock()
		e.stats.Rows += int64(rows)
		e.stats.Emitted = time.UnixMicro(closing).UTC()
		e.mu.Unlock()
		op.o.Hooks.WindowEmit(op.o.Name, rows)
		return rows, nil
	}
	windows, lists, err := e.collect(ctx, shards, closing, emitted)
	if err != nil {
		return 0, err
	}
	rows := 0
	if len(windows) > 0 {
		if rows, err = e.write(ctx, ls.token, windows); err != nil {
			return 0, err
		}
	}
	if err := e.progress(ctx, ls.token, "emitted", closing); err != nil {
		return rows, err
	}
	e.mu.Lock()
	e.stats.Rows += int64(rows)
	e.stats.Emitted = time.UnixMicro(closing).UTC()
	e.mu.Unlock()
	op.o.Hooks.WindowEmit(op.o.Name, rows)
	if err := e.cleanup(ctx, shards, closing, lists); err != nil {
		return rows, err
	}
	n, err := e.emitUpdates(ctx, ls.token, shards, updated, closing)
	return rows + n, err
}

// reportProgress passes the cycle's watermark and emitted-through time to
// the hooks; zero times when this emitter does not hold the lock, so that
// only the holder reports them.
func (e *Emitter) reportProgress() {
	e.mu.Lock()
	st := e.stats
	e.mu.Unlock()
	if !st.Holding {
		st.Watermark, st.Emitted = time.Time{}, time.Time{}
		st.HeldBy, st.HeldReason = "", ""
	}
	e.op.o.Hooks.WindowProgress(e.op.o.Name, st.Watermark, st.Emitted)
	e.op.o.Hooks.WindowHeld(e.op.o.Name, st.HeldBy, st.HeldReason)
}

// readMarks reads every shard's mark and, when late rows update windows,
// the windows with late updates (start → end), in one pipeline.
func (e *Emitter) readMarks(ctx context.Context, shards []ShardInfo) ([]shardMark, map[int64]int64, error) {
	op := e.op
	update := op.o.LateRows == LateUpdate
	pipe := op.o.Redis.Pipeline()
	cmds := make([]*redis.SliceCmd, len(shards))
	upd := make([]*redis.ZSliceCmd, len(shards))
	for i, s := range shards {
		cmds[i] = pipe.HMGet(ctx, op.keys.mark(s.ID), markFields...)
		if update {
			upd[i] = pipe.ZRangeWithScores(ctx, op.keys.updated(s.ID), 0, -1)
		}
	}
	if len(shards) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, fmt.Errorf("window %s: read shard marks: %w", op.o.Name, err)
		}
	}
	marks := make([]shardMark, len(shards))
	for i, c := range cmds {
		marks[i] = parseMark(c.Val())
	}
	var updated map[int64]int64
	for _, c := range upd {
		if c == nil {
			continue
		}
		for _, z := range c.Val() {
			start, err := strconv.ParseInt(fmt.Sprint(z.Member), 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("window %s: updated window %v: %w", op.o.Name, z.Member, err)
			}
			if updated == nil {
				updated = map[int64]int64{}
			}
			updated[start] = int64(z.Score)
		}
	}
	return marks, updated, nil
}

// globalWatermark is the minimum over contributing shards of (largest
// applied event time − max out-of-orderness), and the shard that holds it
// (with why; empty when none does).
//
// A shard does not contribute when it is finished, or idle. Idle is
// decided from the reader state its owner writes into the mark (seen,
// read, caught): the shard is idle only when its owner's last read was
// caught up (MillisBehindLatest 0) and recent, and neither a row nor a
// read that was behind came for idleTimeout. A shard whose reader lags
// (behind), has not read successfully for idleTimeout (stalled: slow,
// throttled or failing GetRecords) or whose owner stopped refreshing the
// mark for idleTimeout (no_owner) holds the watermark, so that its
// on-time rows never turn late; a mark no owner refreshed for
// unreadFactor × idleTimeout is left out (no worker reads the shard:
// windows must not wait for it forever). A mark without reader state (a
// shard no owner of this version has taken yet) is idle after idleTimeout
// without rows since its last flush with rows or since a worker took its
// lease, as before.
//
// A shard without applied rows that holds (or, without reader state, was
// just leased) holds the watermark back entirely — it may hold data; one
// no worker has read yet does so for at most unreadFactor × idleTimeout
// after it was first listed. When no shard contributes but some have
// data, the stream is quiet: the watermark advances with wall time from
// the most recent activity, so the last windows close too.
func globalWatermark(now time.Time, shards []ShardInfo, marks []shardMark, firstSeen map[string]time.Time, idle, ooo time.Duration) (int64, bool, watermarkHold) {
	nowMS, idleMS := now.UnixMilli(), idle.Milliseconds()
	var (
		minWM, maxWM int64 = math.MaxInt64, math.MinInt64
		lastActive   int64 = math.MinInt64
		contributing bool
		anyData      bool
		hold, gate   watermarkHold // the contributing shard with the least watermark; the first shard without rows that holds
	)
	for i, s := range shards {
		m := marks[i]
		if m.finished {
			continue
		}
		why, idleNow, legacy := readerHold(nowMS, m, idleMS)
		if !m.hasWM {
			switch {
			case !legacy:
				if why == "" {
					continue
				}
			case m.active != 0 && nowMS-m.active <= idleMS:
				why = metrics.HeldUnread // leased, its first rows are on their way
			case m.active == 0 && now.Sub(firstSeen[s.ID]) < unreadFactor*idle:
				why = metrics.HeldUnread // not read by anyone yet
			default:
				continue
			}
			if gate.Shard == "" {
				gate = watermarkHold{s.ID, why}
			}
			continue
		}
		anyData = true
		maxWM = max(maxWM, m.wm)
		lastActive = max(lastActive, m.active)
		if legacy {
			if nowMS-m.active > idleMS {
				continue
			}
			why = metrics.HeldEventTime
		} else if idleNow {
			continue
		}
		contributing = true
		if m.wm < minWM {
			minWM, hold = m.wm, watermarkHold{s.ID, why}
		}
	}
	switch {
	case gate.Shard != "":
		return 0, false, gate
	case contributing:
		return minWM - ooo.Microseconds(), true, hold
	case anyData:
		return maxWM - ooo.Microseconds() + (nowMS-lastActive)*1000, true, watermarkHold{}
	}
	return 0, false, watermarkHold{}
}

// watermarkHold names the shard holding an operator's global watermark
// and why (a metrics.Held* reason).
type watermarkHold struct {
	Shard, Reason string
}

// readerHold reads a mark's reader state: why the shard holds the
// watermark ("" when it does not), whether it is idle, and whether the
// mark has no reader state (legacy: written by an owner that does not
// write it, so the caller decides from active alone). An owner that
// writes the state stamps seen at least as late as active.
func readerHold(nowMS int64, m shardMark, idleMS int64) (why string, idle, legacy bool) {
	if !m.hasSeen || m.active > m.seen {
		return "", false, true
	}
	switch {
	case nowMS-m.seen > idleMS:
		if nowMS-m.seen >= unreadFactor*idleMS {
			return "", true, false // abandoned: no worker reads it
		}
		return metrics.HeldNoOwner, false, false
	case m.read == 0 || nowMS-m.read > idleMS:
		return metrics.HeldStalled, false, false
	case m.caught == 0:
		return metrics.HeldBehind, false, false
	case nowMS-max(m.caught, m.active) <= idleMS:
		return metrics.HeldEventTime, false, false
	}
	return "", true, false
}

// unreadFactor × idle_timeout is how long a shard no worker has read yet
// holds the watermark back, and how long a shard whose owner stopped
// refreshing its mark does.
const unreadFactor = 10

// alignedClose is the end of the latest window ending at or before x.
func (op *Operator) alignedClose(x int64) int64 {
	return floorDiv(x-op.sizeUS, op.slideUS)*op.slideUS + op.sizeUS
}

// listRef names one shard's delta list of one window.
type listRef struct {
	shard string
	start int64
}

// closeShards closes windows ending at or before closing on every shard
// (so no later flush adds to them) and returns, per shard, the windows
// ending in (emitted, closing] that hold deltas.
func (e *Emitter) closeShards(ctx context.Context, shards []ShardInfo, closing, emitted int64) ([]listRef, error) {
	op := e.op
	pipe := op.o.Redis.Pipeline()
	cmds := make([]*redis.Cmd, len(shards))
	lower := "-inf"
	if emitted != math.MinInt64 {
		lower = strconv.FormatInt(emitted, 10)
	}
	for i, s := range shards {
		cmds[i] = closeScript.Eval(ctx, pipe, []string{op.keys.mark(s.ID), op.keys.windows(s.ID)}, closing, lower)
	}
	if len(shards) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("window %s: close windows: %w", op.o.Name, err)
		}
	}
	var refs []listRef
	for i, c := range cmds {
		members, err := c.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("window %s: shard %s: close windows: %w", op.o.Name, shards[i].ID, err)
		}
		for j := 0; j+1 < len(members); j += 2 {
			start, err := strconv.ParseInt(members[j], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("window %s: shard %s: window %q: %w", op.o.Name, shards[i].ID, members[j], err)
			}
			refs = append(refs, listRef{shards[i].ID, start})
		}
	}
	return refs, nil
}

// collect closes windows ending in (emitted, closing] on every shard and
// merges their deltas.
func (e *Emitter) collect(ctx context.Context, shards []ShardInfo, closing, emitted int64) ([]closedWindow, []listRef, error) {
	op := e.op
	refs, err := e.closeShards(ctx, shards, closing, emitted)
	if err != nil {
		return nil, nil, err
	}
	if len(refs) == 0 {
		return nil, nil, nil
	}
	pipe := op.o.Redis.Pipeline()
	lists := make([]*redis.StringSliceCmd, len(refs))
	for i, r := range refs {
		lists[i] = pipe.LRange(ctx, op.keys.list(r.shard, r.start), 0, -1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("window %s: read deltas: %w", op.o.Name, err)
	}
	byStart := map[int64]map[string][]state{}
	deltas := map[int64]int64{}
	for i, r := range refs {
		groups := byStart[r.start]
		if groups == nil {
			groups = map[string][]state{}
			byStart[r.start] = groups
		}
		deltas[r.start] += int64(len(lists[i].Val()))
		for _, blob := range lists[i].Val() {
			if err := mergeDelta([]byte(blob), op.plans, groups); err != nil {
				return nil, nil, fmt.Errorf("window %s: shard %s: window %d: %w", op.o.Name, r.shard, r.start, err)
			}
		}
	}
	windows := make([]closedWindow, 0, len(byStart))
	for start, groups := range byStart {
		windows = append(windows, closedWindow{start: start, groups: groups, revision: deltas[start]})
	}
	return windows, refs, nil
}

// write sends the merged windows and waits for the ack, renewing the lock
// while it waits.
func (e *Emitter) write(ctx context.Context, token int64, windows []closedWindow) (int, error) {
	op := e.op
	// Still the holder with the same token? Then no other emitter held the
	// lock since this cycle began, so none cleaned up state this cycle read:
	// the rows are complete. A stale emitter stops here.
	if err := e.progress(ctx, token, "token", token); err != nil {
		return 0, err
	}
	rec, rows, err := op.buildResult(op.o.Allocator, windows)
	if err != nil {
		return 0, err
	}
	defer rec.Release()
	acked := make(chan error, 1)
	if err := e.eo.Output.Write(ctx, &flow.Batch{Record: rec, Shard: "window:" + op.o.Name}, func(err error) { acked <- err }); err != nil {
		return 0, fmt.Errorf("window %s: write results: %w", op.o.Name, err)
	}
	renew := time.NewTicker(max(e.eo.LockTTL/3, 10*time.Millisecond))
	defer renew.Stop()
	for {
		select {
		case err := <-acked:
			if err != nil {
				return 0, fmt.Errorf("window %s: results not delivered: %w", op.o.Name, err)
			}
			return rows, nil
		case <-renew.C:
			ls, holding, err := e.lock(ctx)
			if err == nil && (!holding || ls.token != token) {
				// Someone else emits now; our rows still arrive (same
				// ids), but the progress is theirs to record.
				return 0, errFenced
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// cleanup forgets emitted windows on every shard: their deltas expire
// after EmittedTTL and they leave the shard's window set. The window set is
// the to-do list: every window in it ending at or before closing gets its
// expiry, also those of an earlier cycle whose cleanup did not happen (the
// emitter died or Redis failed after recording the emission), so no delta
// list is left without one.
func (e *Emitter) cleanup(ctx context.Context, shards []ShardInfo, closing int64, lists []listRef) error {
	op := e.op
	if op.o.LateRows == LateUpdate {
		return e.cleanupPastHorizon(ctx, shards, closing-op.updateUS)
	}
	upTo := strconv.FormatInt(closing, 10)
	pipe := op.o.Redis.Pipeline()
	done := make([]*redis.StringSliceCmd, len(shards))
	for i, s := range shards {
		done[i] = pipe.ZRangeByScore(ctx, op.keys.windows(s.ID), &redis.ZRangeBy{Min: "-inf", Max: upTo})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("window %s: clean up emitted windows: %w", op.o.Name, err)
	}
	expire := make(map[string]bool, len(lists))
	for _, r := range lists {
		expire[op.keys.list(r.shard, r.start)] = true
	}
	for i, s := range shards {
		for _, m := range done[i].Val() {
			if start, err := strconv.ParseInt(m, 10, 64); err == nil {
				expire[op.keys.list(s.ID, start)] = true
			}
		}
	}
	for key := range expire {
		pipe.PExpire(ctx, key, e.eo.EmittedTTL)
	}
	for _, s := range shards {
		pipe.ZRemRangeByScore(ctx, op.keys.windows(s.ID), "-inf", upTo)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("window %s: clean up emitted windows: %w", op.o.Name, err)
	}
	return nil
}

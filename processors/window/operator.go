package window

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
	"github.com/shardflow/shardflow/rowjson"
)

// Operator pre-aggregates rows per shard and applies them to Redis. It is a
// flow.Output: a batch's ack fires once every row of it is applied to the
// window state (or handled as late / dead-lettered).
type Operator struct {
	o          Options
	keys       keySpace
	plans      []aggPlan
	timeCol    int
	groupCols  []int
	groupKinds []kind
	log        *slog.Logger
	sizeUS     int64
	slideUS    int64
	gapUS      int64 // > 0: session windows
	updateUS   int64 // late_rows update: the update horizon; 0 otherwise

	mu     sync.Mutex
	shards map[string]*shardState
	closed bool

	stop chan struct{}
	done chan struct{}
}

// pendingBatch is a batch whose rows are aggregated in memory but not yet
// applied. The batch is retained so that the shard's partials can be
// rebuilt when a flush finds the mark or the closed windows moved.
type pendingBatch struct {
	rec     arrow.RecordBatch
	origins []flow.RowOrigin
	ack     flow.Ack
	// closedAt is the shard's closed bound when the batch was last
	// aggregated: rows late under it were already handled.
	closedAt int64
}

// shardState is one shard's in-memory partials. Guarded by mu; flushes run
// under it, so a shard's Write waits for its flush (back-pressure).
type shardState struct {
	mu       sync.Mutex
	id       string
	loaded   bool
	mark     position // applied mark in Redis as last seen
	closed   int64    // windows ending at or before it are closed (µs); MinInt64: none
	windows  map[int64]*windowGroups
	groups   *groupIndex           // group ids of windows' partials
	sessions map[string][]fragment // session windows: fragments per group key
	pending  []pendingBatch
	lost     bool              // the flush script found the mark gone (ErrStateLost)
	dead     []flow.DeadLetter // late or time-less rows to dead-letter before the next flush
	late     int               // late rows dropped since the last flush (drop policy)
	updates  int               // rows applied to closed windows as late updates, pending
	to       position          // last row position of the pending batches
	maxTS    int64
	hasTS    bool
	rows     int
	since    time.Time // when the oldest pending batch arrived
	keyBuf   []byte    // session windows' group key
	// chunks hand out aggregate state slices (one allocation per many
	// groups), reused after each flush; spare holds cleared windows.
	chunks   [][]state
	ci       int // current chunk
	used     int // states used in chunks[ci]
	spare    []*windowGroups
	cols     []column
	gcols    []column
	blob     []byte // deltas of the last flush, reused
	blobEnds []int

	// The shard's reader as this worker sees it, written into the mark so
	// that the emitter can tell a caught-up quiet shard (idle) from a
	// stalled or lagging one (it holds the watermark). reading is set
	// between ShardStarted and the shard's release or end (under mu);
	// readMS and caughtMS are written by ShardRead on the shard's
	// goroutine; refreshed (under mu) is when the mark last got them.
	reading   bool
	readMS    atomic.Int64 // wall ms of the last GetRecords; 0: none since the lease began
	caughtMS  atomic.Int64 // wall ms since which every read was caught up and empty; 0: behind
	changed   atomic.Bool  // caught-up state changed since the mark last got it
	refreshed time.Time
	tried     time.Time // last refresh attempt: a failing Redis is retried once per flush interval
}

// New builds an operator on opts.Schema and starts its flush ticker.
func New(opts Options) (*Operator, error) {
	o := opts.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("window %s: %w", o.Name, err)
	}
	if o.Redis == nil {
		return nil, fmt.Errorf("window %s: a Redis client is required", o.Name)
	}
	if o.Schema == nil {
		return nil, fmt.Errorf("window %s: an input schema is required", o.Name)
	}
	op := &Operator{
		o: o, keys: newKeySpace(o.KeyPrefix, o.Pipeline, o.Name), shards: map[string]*shardState{},
		log: o.Logger.With("window", o.Name), sizeUS: o.Size.Microseconds(), slideUS: o.Slide.Microseconds(), gapUS: o.Gap.Microseconds(),
		updateUS: o.UpdateHorizon.Microseconds(),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
	idx := o.Schema.FieldIndices(o.TimeColumn)
	if len(idx) != 1 || o.Schema.Field(idx[0]).Type.ID() != arrow.TIMESTAMP {
		return nil, fmt.Errorf("window %s: time_column %q must be a timestamp column of the schema", o.Name, o.TimeColumn)
	}
	op.timeCol = idx[0]
	for _, g := range o.GroupBy {
		idx := o.Schema.FieldIndices(g)
		if len(idx) != 1 {
			return nil, fmt.Errorf("window %s: group_by column %q is not in the schema", o.Name, g)
		}
		k, err := kindOf(o.Schema.Field(idx[0]).Type)
		if err != nil {
			return nil, fmt.Errorf("window %s: group_by column %q: %w", o.Name, g, err)
		}
		op.groupCols, op.groupKinds = append(op.groupCols, idx[0]), append(op.groupKinds, k)
	}
	for _, a := range o.Aggregates {
		p, err := compileAggregate(o.Schema, a)
		if err != nil {
			return nil, fmt.Errorf("window %s: %w", o.Name, err)
		}
		op.plans = append(op.plans, p)
	}
	go op.flushLoop()
	return op, nil
}

// ResultSchema is the schema of the operator's result rows.
func (op *Operator) ResultSchema() *arrow.Schema {
	return resultSchema(op.o.Schema, op.groupCols, op.plans, op.o.LateRows == LateUpdate)
}

// earliestEnd is the end of the earliest window holding event time ts: a
// row is late once that window is closed (hopping windows: the row is not
// counted in any of its windows then).
func (op *Operator) earliestEnd(ts int64) int64 {
	if op.gapUS > 0 {
		return ts + op.gapUS
	}
	return floorDiv(ts, op.slideUS)*op.slideUS + op.slideUS
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (op *Operator) shard(id string) *shardState {
	op.mu.Lock()
	defer op.mu.Unlock()
	s, ok := op.shards[id]
	if !ok {
		s = &shardState{id: id, closed: math.MinInt64, groups: newGroupIndex(op.groupKinds)}
		op.shards[id] = s
	}
	return s
}

// Write aggregates b's rows into its shard's partials. It flushes inline
// when the shard holds FlushRows rows or FlushBatches batches, or its
// oldest row waited FlushInterval.
func (op *Operator) Write(ctx context.Context, b *flow.Batch, ack flow.Ack) error {
	if b.Rows() == 0 {
		ack(nil)
		return nil
	}
	s := op.shard(b.Shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		if err := op.load(ctx, s); err != nil {
			return err
		}
	}
	b.Record.Retain()
	pb := pendingBatch{rec: b.Record, origins: b.Origins, ack: ack, closedAt: s.closed}
	if len(s.pending) == 0 {
		s.since = op.o.Now()
	}
	s.pending = append(s.pending, pb)
	op.aggregate(s, &s.pending[len(s.pending)-1], true)
	if s.rows >= op.o.FlushRows || len(s.pending) >= op.o.FlushBatches || op.o.Now().Sub(s.since) >= op.o.FlushInterval {
		// Past the row bound, wait (back-pressure) rather than let
		// memory grow while Redis is away.
		must := s.rows >= 2*op.o.FlushRows
		if err := op.flushLocked(ctx, s, must); err != nil {
			if must {
				return fmt.Errorf("window %s: shard %s: %w", op.o.Name, s.id, err)
			}
			op.log.Warn("window flush failed; will retry", "shard", s.id, "err", err)
		}
	}
	return nil
}

// load reads the shard's mark (applied position and closed bound), retrying
// while Redis is away.
func (op *Operator) load(ctx context.Context, s *shardState) error {
	for attempt := 0; ; attempt++ {
		m, err := readMark(ctx, op.o.Redis, op.keys.mark(s.id))
		if err == nil {
			s.mark, s.loaded = m.pos, true
			if m.hasCls {
				s.closed = m.closed
			}
			return nil
		}
		if attempt%20 == 0 {
			op.log.Warn("reading shard window mark failed; retrying", "shard", s.id, "attempt", attempt+1, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("window %s: shard %s: read mark: %w", op.o.Name, s.id, err)
		case <-time.After(backoff(attempt)):
		}
	}
}

func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt, 5)
	return min(d, time.Second)
}

// aggregate folds the rows of pb into the shard's partials. Rows at or
// before the applied mark are skipped (a replay). Rows without an event
// time and rows whose window is closed are handled once: on the first
// pass, or on a rebuild only if they became late since pb.closedAt.
func (op *Operator) aggregate(s *shardState, pb *pendingBatch, first bool) {
	rec := pb.rec
	n := int(rec.NumRows())
	if len(pb.origins) > 0 {
		last := pb.origins[len(pb.origins)-1]
		if p := (position{last.SequenceNumber, last.SubSequence}); p.cmp(s.to) > 0 {
			s.to = p
		}
	}
	s.cols = s.cols[:0]
	for i := range op.plans {
		if op.plans[i].col >= 0 {
			s.cols = append(s.cols, newColumn(rec.Column(op.plans[i].col)))
		} else {
			s.cols = append(s.cols, column{})
		}
	}
	s.gcols = s.gcols[:0]
	for _, c := range op.groupCols {
		s.gcols = append(s.gcols, newColumn(rec.Column(c)))
	}
	tcol := newColumn(rec.Column(op.timeCol))
	// Rows of a batch are in shard order: only a batch that straddles the
	// applied mark needs a comparison per row.
	straddles := len(pb.origins) == n && n > 0 && s.mark.seq != "" &&
		(position{pb.origins[0].SequenceNumber, pb.origins[0].SubSequence}).cmp(s.mark) <= 0
	for row := range n {
		if straddles {
			o := &pb.origins[row]
			if (position{o.SequenceNumber, o.SubSequence}).cmp(s.mark) <= 0 {
				continue // applied already (replay after a takeover)
			}
		}
		if tcol.arr.IsNull(row) {
			if first {
				s.dead = append(s.dead, op.deadLetter(s.id, pb, row, "window_no_event_time: "+op.o.TimeColumn+" is null"))
			}
			continue
		}
		ts := tcol.ints[row]
		end := op.earliestEnd(ts)
		if op.tooLate(end, s.closed) {
			if first || !op.tooLate(end, pb.closedAt) {
				op.late(s, pb, row, end)
			}
			continue
		}
		if s.closed != math.MinInt64 && end <= s.closed {
			s.updates++
		}
		if !s.hasTS || ts > s.maxTS {
			s.maxTS, s.hasTS = ts, true
		}
		if op.gapUS > 0 {
			s.keyBuf = appendGroupKey(s.keyBuf[:0], s.gcols, op.groupKinds, row)
			op.addToSession(s, s.keyBuf, ts, row)
			s.rows++
			continue
		}
		gid := s.groups.id(s.gcols, row)
		latest := floorDiv(ts, op.slideUS) * op.slideUS
		for start := latest; start > ts-op.sizeUS; start -= op.slideUS {
			w := s.windows[start]
			if w == nil {
				if s.windows == nil {
					s.windows = map[int64]*windowGroups{}
				}
				if n := len(s.spare); n > 0 {
					w, s.spare = s.spare[n-1], s.spare[:n-1]
				} else {
					w = &windowGroups{}
				}
				s.windows[start] = w
			}
			states, ok := w.get(gid)
			if !ok {
				states = s.newStates(len(op.plans))
				w.add(gid, states)
			}
			op.foldRow(s, states, ts, row)
		}
		s.rows++
	}
	pb.closedAt = s.closed
}

// tooLate says whether a row whose earliest window ends at end is late
// with the shard's windows closed through closed: its window is closed (and,
// when late rows update windows, beyond the update horizon).
func (op *Operator) tooLate(end, closed int64) bool {
	if closed == math.MinInt64 {
		return false
	}
	if op.o.LateRows == LateUpdate {
		return end <= closed-op.updateUS
	}
	return end <= closed
}

func (s *shardState) newStates(n int) []state {
	if len(s.chunks) == 0 || s.used+n > len(s.chunks[s.ci]) {
		if len(s.chunks) > 0 {
			s.ci++
		}
		if s.ci == len(s.chunks) {
			s.chunks = append(s.chunks, make([]state, 1024*n))
		}
		s.used = 0
	}
	st := s.chunks[s.ci][s.used : s.used+n : s.used+n]
	s.used += n
	return st
}

// maxSpareChunks bounds the state chunks a shard keeps between flushes.
const maxSpareChunks = 64

// resetPartials forgets the partials (after a flush, or to rebuild them),
// keeping their memory for the next ones.
func (s *shardState) resetPartials() {
	// Past its bounds the group index starts over, now that no partial
	// refers to its ids (windows' slot arrays are dropped with it).
	trim := s.groups != nil && s.groups.full()
	for start, w := range s.windows {
		w.clear(trim)
		s.spare = append(s.spare, w)
		delete(s.windows, start)
	}
	if trim {
		for _, w := range s.spare {
			w.clear(true)
		}
		s.groups.reset()
	}
	if len(s.chunks) > 0 {
		// Zero the states but keep their hash slices' memory.
		reset := func(sts []state) {
			for i := range sts {
				sts[i] = state{hashes: sts[i].hashes[:0]}
			}
		}
		for i := 0; i < s.ci; i++ {
			reset(s.chunks[i])
		}
		reset(s.chunks[s.ci][:s.used])
		if len(s.chunks) > maxSpareChunks {
			s.chunks = s.chunks[:maxSpareChunks]
		}
		s.ci, s.used = 0, 0
	}
	s.sessions = nil
	s.rows, s.hasTS, s.maxTS, s.updates = 0, false, 0, 0
}

// foldRow folds one row's values into a group's states.
func (op *Operator) foldRow(s *shardState, states []state, ts int64, row int) {
	for i := range op.plans {
		p := &op.plans[i]
		if p.col < 0 {
			states[i].n++
			continue
		}
		c := &s.cols[i]
		if c.arr.IsNull(row) {
			continue
		}
		p.add(&states[i], c.value(p.kind, row), ts)
	}
}

// late handles one late row per the policy.
func (op *Operator) late(s *shardState, pb *pendingBatch, row int, end int64) {
	if op.o.LateRows == LateDrop {
		s.late++
		return
	}
	reason := "late_row: window ending " + time.UnixMicro(end).UTC().Format(time.RFC3339Nano) + " already closed"
	if op.o.LateRows == LateUpdate {
		reason += " beyond the update horizon"
	}
	s.dead = append(s.dead, op.deadLetter(s.id, pb, row, reason))
}

func (op *Operator) deadLetter(shard string, pb *pendingBatch, row int, reason string) flow.DeadLetter {
	d := flow.DeadLetter{Reason: reason, Pipeline: op.o.Pipeline, Shard: shard,
		Raw: rowjson.AppendRow(nil, pb.rec, row)}
	if row < len(pb.origins) {
		o := pb.origins[row]
		d.SequenceNumber, d.SubSequence, d.ArrivalTime = o.SequenceNumber, o.SubSequence, o.ArrivalTime
	}
	return d
}

// rebuild recomputes the shard's partials from its pending batches after
// the mark or the closed bound moved.
func (op *Operator) rebuild(s *shardState) {
	s.resetPartials()
	for i := range s.pending {
		op.aggregate(s, &s.pending[i], false)
	}
}

// errLate says the flush script refused (a window closed, or the mark
// moved under this worker) and the partials were rebuilt: flush again.
var errLate = errors.New("window closed during flush")

// ErrStateLost says Redis no longer holds window state this process wrote
// (a shard's applied mark or the emitter lock's history is gone: FLUSHALL,
// or a node replaced or restarted without its data). Nothing more is
// written or emitted from this process: flushing onto an emptied store
// would emit windows with part of their rows under the row ids already
// emitted with all of them. The operator restores Redis or rewinds (docs/
// runbook.md, "The lease store lost its data"), then restarts.
var ErrStateLost = errors.New("window state lost from Redis (emptied, or restarted without its data)")

// flushLocked applies the shard's partials. With must, it retries until it
// succeeds or ctx ends; otherwise one Redis failure returns.
func (op *Operator) flushLocked(ctx context.Context, s *shardState, must bool) error {
	for attempt := 0; len(s.pending) > 0; attempt++ {
		err := op.flushOnce(ctx, s)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrStateLost) {
			return err // retrying cannot help: see ErrStateLost
		}
		if errors.Is(err, errLate) {
			attempt = -1 // not a failure: rebuilt, go again
			continue
		}
		if !must {
			return err
		}
		if attempt%20 == 0 {
			op.log.Warn("window flush failed; retrying", "shard", s.id, "attempt", attempt+1, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("window %s: shard %s: flush: %w (last error: %v)", op.o.Name, s.id, ctx.Err(), err)
		case <-time.After(backoff(attempt)):
		}
	}
	return nil
}

// flushOnce writes pending dead letters, then runs the flush script once.
// It returns errLate when the script refused and the partials were rebuilt.
func (op *Operator) flushOnce(ctx context.Context, s *shardState) error {
	if s.lost {
		return op.failLost(s)
	}
	if len(s.dead) > 0 {
		if err := op.writeDead(ctx, s.dead); err != nil {
			return err
		}
		lateN := 0
		for _, d := range s.dead {
			if len(d.Reason) > 9 && d.Reason[:9] == "late_row:" {
				lateN++
			}
		}
		s.dead = s.dead[:0]
		if lateN > 0 {
			op.o.Hooks.LateRows(op.o.Name, lateN, metrics.LateDeadLetter)
		}
	}
	if s.late > 0 {
		op.o.Hooks.LateRows(op.o.Name, s.late, metrics.LateDrop)
		s.late = 0
	}
	keys := make([]string, 0, 3+2*len(s.windows)+2)
	keys = append(keys, op.keys.mark(s.id), op.keys.windows(s.id), op.keys.updated(s.id))
	args := make([]any, 0, 10+3*len(s.windows)+3)
	args = append(args, s.mark.seq, s.mark.sub, s.to.seq, s.to.sub, "", "", "", "", "", "")
	if op.o.LateRows == LateUpdate {
		args[6] = strconv.FormatInt(op.updateUS, 10)
	}
	if s.hasTS {
		args[4] = strconv.FormatInt(s.maxTS, 10)
	}
	now := op.o.Now()
	nowMS := now.UnixMilli()
	if s.rows > 0 {
		args[5] = strconv.FormatInt(nowMS, 10)
	}
	if s.reading {
		// The same wall time as active: seen ≥ active tells the emitter
		// that this mark's owner writes its reader state.
		args[7], args[8], args[9] = strconv.FormatInt(nowMS, 10),
			strconv.FormatInt(s.readMS.Load(), 10), strconv.FormatInt(s.caughtMS.Load(), 10)
	}
	if len(s.sessions) > 0 {
		blob, minStart, err := encodeFragments(nil, op.plans, s.sessions)
		if err != nil {
			return fmt.Errorf("window %s: shard %s: %w", op.o.Name, s.id, err)
		}
		keys = append(keys, op.keys.sessions(s.id), op.keys.sessions(s.id))
		args = append(args, "s", minStart+op.gapUS, blob)
	}
	// The windows' deltas are encoded back to back into the shard's
	// reused buffer, then handed to the script as slices of it.
	blobs, first := s.blob[:0], len(args)
	s.blobEnds = s.blobEnds[:0]
	for start, w := range s.windows {
		var err error
		if blobs, err = encodeDelta(blobs, op.plans, w, s.groups); err != nil {
			return fmt.Errorf("window %s: shard %s: %w", op.o.Name, s.id, err)
		}
		s.blobEnds = append(s.blobEnds, len(blobs))
		keys = append(keys, op.keys.list(s.id, start), op.keys.late(s.id, start))
		args = append(args, start, start+op.sizeUS, nil)
	}
	from := 0
	for i, end := range s.blobEnds {
		args[first+3*i+2] = blobs[from:end:end]
		from = end
	}
	s.blob = blobs
	if cap(s.blob) > 4*len(blobs) && cap(s.blob) > 1<<20 {
		s.blob = nil // one unusually large flush: do not keep its buffer
	}
	if s.to.seq == "" {
		// No row carried a position (batches without origins): nothing
		// to mark; apply as a fresh range is impossible to fence.
		return fmt.Errorf("window %s: shard %s: batches without row origins cannot be applied", op.o.Name, s.id)
	}
	v, err := flushScript.Run(ctx, op.o.Redis, keys, args...).Result()
	if err != nil {
		return fmt.Errorf("window %s: shard %s: flush: %w", op.o.Name, s.id, err)
	}
	r, err := parseFlushReply(v)
	if err != nil {
		return err
	}
	if r.hasCls && r.closed > s.closed {
		s.closed = r.closed
	}
	switch r.status {
	case "ok", "applied":
		if r.status == "ok" && s.reading {
			s.refreshed = now
		}
		op.o.Hooks.WindowFlush(op.o.Name, (len(keys)-3)/2)
		if s.updates > 0 {
			op.o.Hooks.LateRows(op.o.Name, s.updates, metrics.LateUpdate)
		}
		s.mark = s.to
		if r.mark.cmp(s.mark) > 0 {
			s.mark = r.mark
		}
		for _, pb := range s.pending {
			pb.rec.Release()
			pb.ack(nil)
		}
		clear(s.pending)
		s.pending = s.pending[:0]
		s.resetPartials()
		return nil
	case "conflict":
		if r.mark.cmp(s.mark) < 0 {
			// Marks only move forward (another owner's flushes move it
			// ahead of this worker's view, never behind): Redis lost
			// writes it had acknowledged — a replica that had not
			// caught up was promoted, or an older snapshot restored.
			// Rebuilding from it would drop the rows in between.
			if !s.lost {
				op.log.Error("window state lost from Redis: this shard's applied mark moved back; "+
					"nothing more is flushed for it (restore Redis or rewind, then restart: docs/runbook.md)",
					"shard", s.id, "expected", s.mark.seq, "found", r.mark.seq)
			}
			s.lost = true
			return op.failLost(s)
		}
		op.log.Warn("shard's window mark moved under this worker; rebuilding from it",
			"shard", s.id, "expected", s.mark.seq, "found", r.mark.seq)
		s.mark = r.mark
	case "lost":
		if !s.lost {
			op.log.Error("window state lost from Redis: this shard's applied mark is gone; "+
				"nothing more is flushed for it (restore Redis or rewind, then restart: docs/runbook.md)",
				"shard", s.id, "expected", s.mark.seq)
		}
		s.lost = true
		return op.failLost(s)
	case "late":
	default:
		return fmt.Errorf("window %s: shard %s: flush: unexpected status %q", op.o.Name, s.id, r.status)
	}
	op.rebuild(s)
	return errLate
}

// failLost fails the shard's pending batches with ErrStateLost: their
// checkpoints must not move, and the consumer stops the shard's
// checkpoints on a failed ack.
func (op *Operator) failLost(s *shardState) error {
	err := fmt.Errorf("window %s: shard %s: %w", op.o.Name, s.id, ErrStateLost)
	for _, pb := range s.pending {
		pb.rec.Release()
		pb.ack(err)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	s.dead = s.dead[:0]
	s.resetPartials()
	return err
}

// writeDead writes dead letters and waits for their ack.
func (op *Operator) writeDead(ctx context.Context, entries []flow.DeadLetter) error {
	if op.o.DeadLetter == nil {
		return fmt.Errorf("window %s: %d rows to dead-letter but no dead-letter output", op.o.Name, len(entries))
	}
	done := make(chan error, 1)
	if err := op.o.DeadLetter.WriteDeadLetters(ctx, entries, func(err error) { done <- err }); err != nil {
		return fmt.Errorf("window %s: dead-letter: %w", op.o.Name, err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("window %s: dead-letter: %w", op.o.Name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushLoop flushes shards whose oldest pending row waited FlushInterval,
// so that acks (and checkpoints) follow even when input stops.
func (op *Operator) flushLoop() {
	defer close(op.done)
	t := time.NewTicker(max(op.o.FlushInterval/4, 10*time.Millisecond))
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-op.stop
		cancel()
	}()
	for {
		select {
		case <-op.stop:
			return
		case <-t.C:
		}
		shards := op.shardList()
		for _, s := range shards {
			s.mu.Lock()
			if len(s.pending) > 0 && op.o.Now().Sub(s.since) >= op.o.FlushInterval {
				if err := op.flushLocked(ctx, s, false); err != nil && ctx.Err() == nil && !errors.Is(err, ErrStateLost) {
					op.log.Warn("window flush failed; will retry", "shard", s.id, "err", err)
				}
			}
			op.refreshLocked(ctx, s)
			s.mu.Unlock()
		}
	}
}

// refreshLocked writes the shard's reader state into its mark when it is
// due: every idle_timeout/4 (so that a live owner's mark never looks
// stale to the emitter) and, at most once per flush interval, when the
// reader turned caught up or fell behind. A flush with rows carries the
// state too, so a busy shard needs no refresh. One HSET per shard and
// period: nothing per row. Runs under s.mu, so that it never lands after
// the shard's release.
func (op *Operator) refreshLocked(ctx context.Context, s *shardState) {
	if !s.reading || s.lost || ctx.Err() != nil {
		return
	}
	now := op.o.Now()
	since := now.Sub(s.refreshed)
	if since < op.refreshEvery() && (!s.changed.Load() || since < op.o.FlushInterval) || now.Sub(s.tried) < min(op.o.FlushInterval, op.refreshEvery()) {
		return
	}
	s.changed.Store(false)
	s.tried = now
	nowMS := now.UnixMilli()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	n, err := hsetIfExistsScript.Run(rctx, op.o.Redis, []string{op.keys.mark(s.id)},
		"seen", nowMS, "read", s.readMS.Load(), "caught", s.caughtMS.Load()).Int()
	if err != nil {
		s.changed.Store(true)
		if ctx.Err() == nil {
			op.log.Warn("refreshing the shard's reader state failed; will retry", "shard", s.id, "err", err)
		}
		return
	}
	if n == 0 && s.mark.seq != "" {
		// The mark of a shard that flushed rows is gone: see ErrStateLost.
		op.log.Error("window state lost from Redis: this shard's applied mark is gone; "+
			"nothing more is flushed for it (restore Redis or rewind, then restart: docs/runbook.md)",
			"shard", s.id, "expected", s.mark.seq)
		s.lost = true
		_ = op.failLost(s)
		return
	}
	s.refreshed = now
}

// refreshEvery is how often an owner rewrites its shards' reader state:
// well within idle_timeout, which is how stale the emitter lets it get.
func (op *Operator) refreshEvery() time.Duration {
	return max(op.o.IdleTimeout/4, 10*time.Millisecond)
}

// ShardRead records one GetRecords result of the shard (empty ones too)
// and its MillisBehindLatest (0: caught up). It is called on the shard's
// goroutine for every read and costs two atomic stores: the state reaches
// Redis with the shard's next flush or refresh.
func (op *Operator) ShardRead(shard string, records int, millisBehindLatest int64) {
	s := op.shard(shard)
	now := op.o.Now().UnixMilli()
	first := s.readMS.Swap(now) == 0
	switch caught := s.caughtMS.Load(); {
	case millisBehindLatest > 0:
		if caught != 0 || first {
			s.caughtMS.Store(0)
			s.changed.Store(true)
		}
	case records > 0:
		// Caught up, but rows came: the quiet stretch starts again now
		// (already before the rows are flushed, so that a refresh between
		// this read and the flush cannot make the shard look idle).
		s.caughtMS.Store(now)
		if caught == 0 {
			s.changed.Store(true)
		}
	case caught == 0:
		s.caughtMS.Store(now)
		s.changed.Store(true)
	}
}

// ShardStarted forgets anything held for shard (a new lease: the mark is
// read again before its first batch) and records the shard as active now,
// so that the emitter waits idle_timeout for its first rows instead of
// treating it as idle since its last owner's last flush.
//
// It also starts the shard's reader state: not caught up, nothing read
// yet, so the shard holds the watermark until its reader reports that it
// caught up (ShardRead) and idle_timeout passed without rows.
func (op *Operator) ShardStarted(shard string) {
	s := op.shard(shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	op.dropLocked(s, fmt.Errorf("window %s: shard %s taken again before its rows were applied", op.o.Name, shard))
	s.readMS.Store(0)
	s.caughtMS.Store(0)
	s.changed.Store(false)
	now := op.o.Now()
	nowMS := now.UnixMilli()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := op.o.Redis.HSet(ctx, op.keys.mark(shard), "active", nowMS, "seen", nowMS, "read", 0, "caught", 0).Err(); err != nil {
		op.log.Warn("recording the shard as active failed", "shard", shard, "err", err)
	}
	s.reading, s.refreshed = true, now
}

// ShardReleased drops the shard's partials: their batches are acked with an
// error (they will be replayed by the next owner). The mark's reader
// state turns "behind", so that the shard holds the watermark until its
// next owner's reader reports (or, stale, for at most unreadFactor ×
// idle_timeout when no one takes it).
func (op *Operator) ShardReleased(shard string) {
	s := op.shard(shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	op.dropLocked(s, fmt.Errorf("window %s: shard %s released before its rows were applied", op.o.Name, shard))
	if !s.reading {
		return
	}
	s.reading = false
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hsetIfExistsScript.Run(ctx, op.o.Redis, []string{op.keys.mark(shard)}, "caught", 0).Err(); err != nil {
		op.log.Warn("recording the released shard's reader as stopped failed", "shard", shard, "err", err)
	}
}

func (op *Operator) dropLocked(s *shardState, err error) {
	for _, pb := range s.pending {
		pb.rec.Release()
		pb.ack(err)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	s.resetPartials()
	s.dead, s.late, s.loaded, s.to, s.closed = s.dead[:0], 0, false, position{}, math.MinInt64
}

// ShardFinished flushes the shard and marks it finished, so that the
// global watermark no longer waits for it. Call it after the shard reached
// SHARD_END with every batch acked.
func (op *Operator) ShardFinished(ctx context.Context, shard string) error {
	s := op.shard(shard)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := op.flushLocked(ctx, s, true); err != nil {
		return err
	}
	if err := op.o.Redis.HSet(ctx, op.keys.mark(shard), "finished", "1").Err(); err != nil {
		return fmt.Errorf("window %s: shard %s: mark finished: %w", op.o.Name, shard, err)
	}
	s.reading = false
	return nil
}

// shardList is the shards the operator holds state for, now.
func (op *Operator) shardList() []*shardState {
	op.mu.Lock()
	defer op.mu.Unlock()
	shards := make([]*shardState, 0, len(op.shards))
	for _, s := range op.shards {
		shards = append(shards, s)
	}
	return shards
}

// Flush applies every shard's partials now (retrying until ctx ends).
func (op *Operator) Flush(ctx context.Context) error {
	shards := op.shardList()
	var errs []error
	for _, s := range shards {
		s.mu.Lock()
		if err := op.flushLocked(ctx, s, true); err != nil {
			errs = append(errs, err)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Close stops the flush ticker, flushes what is held and acks with an
// error what could not be applied before ctx ended.
func (op *Operator) Close(ctx context.Context) error {
	op.mu.Lock()
	if op.closed {
		op.mu.Unlock()
		return nil
	}
	op.closed = true
	op.mu.Unlock()
	close(op.stop)
	<-op.done
	err := op.Flush(ctx)
	op.mu.Lock()
	defer op.mu.Unlock()
	for _, s := range op.shards {
		s.mu.Lock()
		op.dropLocked(s, fmt.Errorf("window %s: closed before rows were applied: %w", op.o.Name, ctx.Err()))
		s.mu.Unlock()
	}
	return err
}

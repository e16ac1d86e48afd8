package s3

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/sinks/encode"
)

// Exactly-once mode (Options.ExactlyOnce): see the package documentation
// for the contract. This file holds the write path: per shard a chain of
// segments, each a run of the shard's rows in sequence order, written as
// one object per partition it touches.

// canonicalChunk is how many rows each Parquet write call of a segment's
// file carries (the last one of a file fewer). The calls, and so the bytes
// of the file, depend on the rows alone, not on how the consumer happened
// to batch them: a replay writes byte-identical objects.
const canonicalChunk = 4096

// ErrShardReleased acks the rows of a shard's open segment when its lease
// went to another worker: they were not written, the next owner writes
// them (its checkpoint is before them).
var ErrShardReleased = errors.New("s3: shard released before its open segment was complete; its next owner writes these rows")

// chain is one shard's state. Fields above headMu are guarded by Output.mu.
type chain struct {
	shard string
	// last is the position of the last row accepted, or of the head's
	// committed position when the chain was loaded: rows at or before it
	// are already in objects (or were skipped as such) and are skipped.
	last position
	// cuts are wall-time segment ends recorded in the head by an earlier
	// owner, for segments it had not committed: replayed segments end at
	// them too.
	cuts      []position
	open      *segment
	tail      *segment // the latest segment (open or sealed): commits go in order
	lastWrite time.Time

	headMu        sync.Mutex
	headCommitted position
	headCuts      []position
}

// segment is a run of a chain's rows: first..last, in one object per
// partition hour.
type segment struct {
	chain        *chain
	prev         *segment
	first, last  position
	firstArrival time.Time
	rows         int64
	files        map[int64]*file
	writes       []*pendingWrite
	ready        chan struct{} // closed once its objects may be written
	done         chan struct{} // closed once committed or failed

	mu       sync.Mutex
	left     int // files not uploaded yet
	uploaded []*file
	err      error
	failed   bool
}

func (s *segment) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *segment) getErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// size estimates the segment's encoded bytes. It changes only when a
// canonical chunk is written, so it is a function of the rows.
func (s *segment) size() int64 {
	var n int64
	for _, f := range s.files {
		n += f.size()
	}
	return n
}

// cutBefore reports whether a recorded cut ends the segment before p.
func (s *segment) cutBefore(p position) bool {
	for _, c := range s.chain.cuts {
		if c.cmp(s.first) >= 0 && c.cmp(p) < 0 {
			return true
		}
	}
	return false
}

func (s *segment) addWrite(q *ackQueue, pw *pendingWrite) {
	if n := len(s.writes); n > 0 && s.writes[n-1] == pw {
		return
	}
	s.writes = append(s.writes, pw)
	q.hold(pw)
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func rowPosition(b *flow.Batch, i int) position {
	return position{seq: b.Origins[i].SequenceNumber, sub: b.Origins[i].SubSequence}
}

// rowHour is the partition of row i (exactly-once: each row's own arrival
// time, not its batch's, so that batching does not move rows).
func (o *Output) rowHour(b *flow.Batch, i int) int64 {
	arr := b.Origins[i].ArrivalTime
	if o.eventCol >= 0 {
		ts := b.Record.Column(o.eventCol).(*array.Timestamp)
		if !ts.IsNull(i) {
			return floorDiv(int64(ts.Value(i)), usPerHour)
		}
	}
	return hourOf(arr)
}

// chainFor returns the shard's chain, reading its head from S3 the first
// time (outside mu: other shards keep writing meanwhile).
func (o *Output) chainFor(shard string) (*chain, error) {
	o.mu.Lock()
	c := o.chains[shard]
	o.mu.Unlock()
	if c != nil {
		return c, nil
	}
	committed, cuts, err := o.loadHead(shard)
	if err != nil {
		err = fmt.Errorf("s3: shard %s: reading its head: %w", shard, err)
		o.noteFailure(err)
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.chains[shard]; c != nil {
		return c, nil
	}
	c = &chain{shard: shard, last: committed, cuts: cuts, headCommitted: committed, headCuts: slices.Clone(cuts)}
	o.chains[shard] = c
	if !committed.isZero() {
		o.log.Info("resuming shard after its last committed segment", "shard", shard,
			"committed", committed.String(), "recorded_cuts", len(cuts))
	}
	return c, nil
}

func (o *Output) writeExactlyOnce(ctx context.Context, b *flow.Batch, ack flow.Ack) error {
	n := b.Rows()
	if n > 0 && (len(b.Origins) != n || b.Shard == "") {
		return fmt.Errorf("s3: exactly-once output needs every row's shard and sequence number (batch of %d rows has %d origins, shard %q)", n, len(b.Origins), b.Shard)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var c *chain
	if n > 0 {
		var err error
		if c, err = o.chainFor(b.Shard); err != nil {
			return err
		}
	}
	pw := &pendingWrite{ack: ack, left: 1}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	o.acks.push(pw)
	if n > 0 && o.released[b.Shard] {
		// A batch that was on its way when the lease went: its rows may
		// follow rows the released segment dropped, so writing them would
		// start a segment the next owner does not write.
		o.acks.fail(pw, ErrShardReleased)
		n = 0
	}
	if n > 0 {
		o.appendRowsLocked(c, b, pw)
		if o.draining && c.open != nil {
			o.sealLocked(c.open, true)
		}
	}
	o.mu.Unlock()
	o.acks.release(pw, nil)
	return nil
}

// appendRowsLocked adds b's rows after c.last to c's segments, rolling
// segments at the deterministic points: RollRecords rows, RollBytes
// encoded bytes, RollInterval of arrival time, MaxOpenFiles partitions,
// or a recorded cut.
func (o *Output) appendRowsLocked(c *chain, b *flow.Batch, pw *pendingWrite) {
	n := b.Rows()
	accepted := 0
	for i := 0; i < n; {
		p := rowPosition(b, i)
		if p.cmp(c.last) <= 0 {
			o.stats.skipped.Add(1)
			i++
			continue
		}
		arr := b.Origins[i].ArrivalTime
		h := o.rowHour(b, i)
		s := c.open
		if s != nil && o.mustRollBefore(s, p, arr, h) {
			o.sealLocked(s, false)
			s = nil
		}
		if s == nil {
			s = o.openSegmentLocked(c, p, arr)
		}
		f, err := o.segmentFileLocked(s, h)
		if err != nil {
			s.setErr(err)
			o.sealLocked(s, false)
			o.acks.fail(pw, err)
			return
		}
		s.addWrite(&o.acks, pw)
		// Extend the run while nothing would roll the segment before the
		// next row, up to the file's next canonical chunk boundary.
		j, prev := i+1, p
		for room := canonicalChunk - f.pendingRows; j < n && j-i < room; j++ {
			q := rowPosition(b, j)
			if q.cmp(prev) <= 0 || o.rowHour(b, j) != h || s.rows+int64(j-i) >= o.opts.RollRecords ||
				b.Origins[j].ArrivalTime.Sub(s.firstArrival) >= o.opts.RollInterval || s.cutBefore(q) {
				break
			}
			prev = q
		}
		if err := o.addRunLocked(s, f, b.Record, i, j, p, prev); err != nil {
			s.setErr(err)
			o.sealLocked(s, false)
			o.acks.fail(pw, err)
			return
		}
		accepted += j - i
		c.last = prev
		i = j
	}
	if accepted > 0 {
		c.lastWrite = o.opts.Now()
		o.stats.rows.Add(int64(accepted))
	}
}

// mustRollBefore reports whether s must end before a row at p that
// arrived at arr and belongs to partition h.
func (o *Output) mustRollBefore(s *segment, p position, arr time.Time, h int64) bool {
	switch {
	case s.rows >= o.opts.RollRecords,
		s.size() >= o.opts.RollBytes,
		arr.Sub(s.firstArrival) >= o.opts.RollInterval,
		s.cutBefore(p):
		return true
	}
	_, open := s.files[h]
	return !open && len(s.files) >= o.opts.MaxOpenFiles
}

func (o *Output) openSegmentLocked(c *chain, first position, arrival time.Time) *segment {
	s := &segment{chain: c, prev: c.tail, first: first, last: first, firstArrival: arrival,
		files: map[int64]*file{}, done: make(chan struct{})}
	c.cuts = slices.DeleteFunc(c.cuts, func(p position) bool { return p.cmp(first) < 0 })
	c.open, c.tail = s, s
	return s
}

// segmentFileLocked returns s's file for partition h, opening it (and its
// uploader, which holds the parts until the segment is sealed).
func (o *Output) segmentFileLocked(s *segment, h int64) (*file, error) {
	if f := s.files[h]; f != nil {
		return f, nil
	}
	f := &file{
		hour:   h,
		opened: o.opts.Now(),
		seg:    s,
		stream: &partStream{size: o.opts.PartSize, parts: make(chan part, 1), bufs: &o.bufs},
	}
	pw, err := encode.NewParquet(f.stream, o.opts.Schema, encode.ParquetOptions{
		Compression:   o.opts.Compression,
		RowGroupRows:  o.opts.RowGroupRows,
		RowGroupBytes: o.opts.RowGroupBytes,
		Allocator:     o.opts.Allocator,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: shard %s: starting a file: %w", s.chain.shard, err)
	}
	f.pw = pw
	s.files[h] = f
	o.uploads.Add(1)
	go o.upload(f)
	return f, nil
}

// addRunLocked queues rows [i, j) of rec (positions first..last) for f and
// writes a canonical chunk when one is complete.
func (o *Output) addRunLocked(s *segment, f *file, rec arrow.RecordBatch, i, j int, first, last position) error {
	if f.rows == 0 {
		f.first = first
	}
	f.last = last
	f.pending = append(f.pending, rec.NewSlice(int64(i), int64(j)))
	f.pendingRows += j - i
	f.rows += int64(j - i)
	s.rows += int64(j - i)
	s.last = last
	if f.pendingRows >= canonicalChunk {
		return o.flushPending(f)
	}
	return nil
}

// flushPending writes f's queued rows as one Parquet write call.
func (o *Output) flushPending(f *file) error {
	if f.pendingRows == 0 {
		return nil
	}
	defer func() {
		for _, r := range f.pending {
			r.Release()
		}
		f.pending, f.pendingRows = f.pending[:0], 0
	}()
	rec := f.pending[0]
	if len(f.pending) > 1 {
		cols := make([]arrow.Array, o.opts.Schema.NumFields())
		parts := make([]arrow.Array, len(f.pending))
		for c := range cols {
			for k, r := range f.pending {
				parts[k] = r.Column(c)
			}
			col, err := array.Concatenate(parts, o.opts.Allocator)
			if err != nil {
				for _, done := range cols[:c] {
					done.Release()
				}
				return fmt.Errorf("s3: shard %s: concatenating rows: %w", f.seg.chain.shard, err)
			}
			cols[c] = col
		}
		rec = array.NewRecordBatch(o.opts.Schema, cols, int64(f.pendingRows))
		for _, col := range cols {
			col.Release()
		}
		defer rec.Release()
	}
	if err := f.pw.Write(rec); err != nil {
		return fmt.Errorf("s3: shard %s: encoding: %w", f.seg.chain.shard, err)
	}
	return nil
}

// segmentKey names a segment's object: its partition, then the shard and
// the positions of the object's first and last rows.
func (o *Output) segmentKey(f *file) string {
	return o.prefix + PartitionPath(f.hour) + o.opts.Name + "-" + f.seg.chain.shard + "-" + f.first.String() + "-" + f.last.String() + ".parquet"
}

// sealLocked ends s: its files get their final keys and their last parts,
// so their uploaders write them. byWallTime marks an end chosen by time
// (idle, drain, Close), not by the rows: it is recorded in the shard's head
// before any object of s is written, so that a replay ends s there too.
func (o *Output) sealLocked(s *segment, byWallTime bool) {
	c := s.chain
	if c.open == s {
		c.open = nil
	}
	err := s.getErr()
	s.mu.Lock()
	s.left = len(s.files)
	s.mu.Unlock()
	switch {
	case byWallTime && err == nil:
		s.ready = make(chan struct{})
		o.uploads.Add(1)
		go func() { // owned by the output: Close waits for it
			defer o.uploads.Done()
			defer close(s.ready)
			if err := o.recordCut(c, s.last); err != nil {
				s.setErr(fmt.Errorf("s3: shard %s: recording the end of segment %s-%s: %w", c.shard, s.first, s.last, err))
			}
		}()
	default:
		s.ready = closedChan
	}
	for _, f := range s.files {
		cause := err
		if cause == nil {
			cause = o.flushPending(f)
		} else {
			for _, r := range f.pending {
				r.Release()
			}
			f.pending, f.pendingRows = nil, 0
		}
		f.key = o.segmentKey(f)
		if cerr := f.pw.Close(); cerr != nil && cause == nil {
			cause = fmt.Errorf("s3: finishing %s: %w", f.key, cerr)
		}
		if cause != nil {
			s.setErr(cause)
		}
		f.stream.finish(cause)
	}
}

// segmentFileDone records one uploaded (or failed) file of its segment;
// the last one commits the segment.
func (o *Output) segmentFileDone(f *file, err error) {
	s := f.seg
	s.mu.Lock()
	if err != nil && s.err == nil {
		s.err = err
	}
	if err == nil {
		s.uploaded = append(s.uploaded, f)
	}
	s.left--
	last := s.left == 0
	s.mu.Unlock()
	if last {
		o.finishSegment(s)
	}
}

// finishSegment commits s once every earlier segment of its shard is
// committed, then acks the writes whose rows it holds. A failed earlier
// segment fails s too: the head cannot pass the gap.
func (o *Output) finishSegment(s *segment) {
	err := s.getErr()
	if s.prev != nil {
		<-s.prev.done
		s.prev.mu.Lock()
		prevFailed, prevErr := s.prev.failed, s.prev.err
		s.prev.mu.Unlock()
		if prevFailed && err == nil {
			err = fmt.Errorf("s3: shard %s: an earlier segment was not committed: %w", s.chain.shard, prevErr)
		}
	}
	if err == nil {
		if err = o.commit(s); err != nil {
			err = fmt.Errorf("s3: shard %s: committing segment %s-%s: %w", s.chain.shard, s.first, s.last, err)
		}
	}
	s.mu.Lock()
	s.failed, s.err = err != nil, err
	s.mu.Unlock()
	close(s.done)
	if err != nil && !errors.Is(err, ErrShardReleased) {
		o.noteFailure(err)
		o.log.Error("segment not committed; checkpoints will not pass its rows",
			"shard", s.chain.shard, "first", s.first.String(), "last", s.last.String(), "err", err)
	} else if err == nil {
		o.stats.segments.Add(1)
		o.log.Debug("segment committed", "shard", s.chain.shard, "first", s.first.String(),
			"last", s.last.String(), "rows", s.rows, "objects", len(s.files))
	}
	o.acks.resolve(s.writes, err)
}

// ShardReleased tells an exactly-once output that this worker no longer
// holds the shard's lease: its open segment is dropped unwritten (its
// writes ack with ErrShardReleased; the next owner's replay writes those
// rows) and its state forgotten, so that a later lease starts from the
// head again. Sealed segments still upload and commit: their ends are
// fixed by the rows or recorded in the head, so the next owner writes the
// same objects. Until ShardStarted, writes for the shard fail with
// ErrShardReleased. A no-op without ExactlyOnce.
func (o *Output) ShardReleased(shard string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.released[shard] = true
	c := o.chains[shard]
	if c == nil {
		return
	}
	delete(o.chains, shard)
	if s := c.open; s != nil {
		s.setErr(ErrShardReleased)
		o.sealLocked(s, false)
	}
}

// ShardStarted tells an exactly-once output that this worker holds the
// shard's lease (again): its writes are taken, from the head on. Writes for
// a shard released and not started since fail with ErrShardReleased.
func (o *Output) ShardStarted(shard string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.released, shard)
}

// Drain makes the output finish quickly for a shutdown: open files and
// segments are rolled now, and every later write rolls its own at once, so
// that acks, and so checkpoints, follow within an upload.
func (o *Output) Drain() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.draining = true
	o.rollAllLocked()
}

// DrainShard seals the shard's open segment now (a wall-clock cut, recorded
// in the head like Drain's), for a shard being handed to another worker:
// its pending writes ack within an upload, so the handoff checkpoints them
// and the successor replays nothing. A no-op without ExactlyOnce or an
// open segment.
func (o *Output) DrainShard(shard string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.chains[shard]; c != nil && c.open != nil {
		o.sealLocked(c.open, true)
	}
}

// rollAllLocked rolls every open file (at-least-once) and segment.
func (o *Output) rollAllLocked() {
	for _, f := range o.open {
		o.rollLocked(f, nil)
	}
	for _, c := range o.chains {
		if c.open != nil {
			o.sealLocked(c.open, true)
		}
	}
}

// rollIdleLocked seals segments of quiet shards: no row for IdleGrace and
// the first row older than RollInterval (wall time).
func (o *Output) rollIdleLocked(now time.Time) {
	for _, c := range o.chains {
		s := c.open
		if s != nil && now.Sub(c.lastWrite) >= o.opts.IdleGrace && now.Sub(s.firstArrival) >= o.opts.RollInterval {
			o.sealLocked(s, true)
		}
	}
}

func (o *Output) noteFailure(err error) {
	o.failMu.Lock()
	if o.failed == nil {
		o.failed = err
	}
	o.failMu.Unlock()
}

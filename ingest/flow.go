package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/put"
	"github.com/shardflow/shardflow/ingest/s3feed"
	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/ingest/tail"
)

// flow is one running flow: its reader (tail or S3 feed), its line
// processing and its sender. run owns the reader's goroutine.
type flow struct {
	name   string
	cfg    FlowConfig
	log    *slog.Logger
	proc   *lines.Processor
	sender *put.Sender
	tail   *tail.Tailer
	feed   *s3feed.Feed
	bucket string
	dead   *deadLetters
	store  *state.Store
	once   bool

	linesRead, bytesRead atomic.Int64
	countsMu             sync.Mutex
	deadByReason         map[string]int64
	skipped              map[string]int64

	// reader goroutine only
	ctx context.Context
	now time.Time
}

// source is the flow's state for one file generation or object: the line
// processing state and the Sink its results go to.
type source struct {
	f    *flow
	name string
	prog *state.Progress
	src  lines.Source
}

func (s *source) Record(r lines.Record) error {
	tk := s.prog.Register(r.Pos)
	if err := s.f.sender.Add(s.f.ctx, r.Key, r.Data, tk, s.f.now); err != nil {
		return fmt.Errorf("agent: flow %s: %w", s.f.name, err)
	}
	return nil
}

func (s *source) Dead(reason string, data []byte, offset int64, pos state.Position) error {
	if err := s.f.dead.write(DeadLetter{Reason: reason, Flow: s.f.name, Source: s.name, Offset: offset, Line: pos.Lines,
		Time: time.Now().UTC()}, data); err != nil {
		return err
	}
	s.f.count(&s.f.deadByReason, reasonCode(reason))
	s.prog.Skip(pos) // durable with the next checkpoint: the store syncs the dead-letter file first
	return nil
}

func (s *source) Skip(why string, pos state.Position) {
	s.f.count(&s.f.skipped, why)
	s.prog.Skip(pos)
}

func (f *flow) count(m *map[string]int64, key string) {
	f.countsMu.Lock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[key]++
	f.countsMu.Unlock()
}

func reasonCode(reason string) string {
	for i := range len(reason) {
		if reason[i] == ':' {
			return reason[:i]
		}
	}
	return reason
}

func (f *flow) handleLines(s *source, ls []lines.Line) error {
	var n int64
	for i := range ls {
		n += ls[i].End - ls[i].Offset
		if err := f.proc.Line(&s.src, ls[i], s, f.now); err != nil {
			return err
		}
	}
	f.linesRead.Add(int64(len(ls)))
	f.bytesRead.Add(n)
	return nil
}

// tailHandler and s3Handler adapt the readers to the flow.
type tailHandler struct{ f *flow }

func (h tailHandler) Started(tf *tail.File) {
	tf.Aux = &source{f: h.f, name: tf.Path, prog: tf.Progress, src: lines.Source{Name: tf.Path, ReadLine: tf.ReadLine}}
}
func (h tailHandler) Lines(tf *tail.File, ls []lines.Line) error {
	s := tf.Aux.(*source)
	s.src.Name, s.name = tf.Path, tf.Path // renamed files keep their metadata current
	return h.f.handleLines(s, ls)
}
func (h tailHandler) Finished(tf *tail.File) error {
	s := tf.Aux.(*source)
	return h.f.proc.Flush(&s.src, s)
}

type s3Handler struct{ f *flow }

func (h s3Handler) Started(o *s3feed.Object) {
	name := o.Name(h.f.bucket)
	o.Aux = &source{f: h.f, name: name, prog: o.Progress, src: lines.Source{Name: name,
		ReadLine: func(n int64) ([]byte, error) { return h.f.feed.ReadLine(h.f.ctx, o, n) }}}
}
func (h s3Handler) Lines(o *s3feed.Object, ls []lines.Line) error {
	return h.f.handleLines(o.Aux.(*source), ls)
}
func (h s3Handler) Finished(o *s3feed.Object) error {
	s := o.Aux.(*source)
	return h.f.proc.Flush(&s.src, s)
}

// run reads until ctx ends (or, once, until everything was read), then
// sends what is queued. The caller closes the sender.
func (f *flow) run(ctx context.Context) error {
	f.ctx = ctx
	poll := f.cfg.PollInterval.D()
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for ctx.Err() == nil {
		f.now = time.Now()
		var read bool
		var err error
		if f.tail != nil {
			read, err = f.tail.Poll(f.now, tailHandler{f})
		} else {
			read, err = f.feed.Poll(ctx, f.now, s3Handler{f})
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("agent: flow %s: %w", f.name, err)
		}
		if err := f.flushIdle(); err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("agent: flow %s: %w", f.name, err)
		}
		f.sender.Tick(f.now)
		if f.once && f.readDone() {
			f.log.Info("every file was read (once)")
			break
		}
		if read {
			continue
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	f.sender.Flush()
	return nil
}

func (f *flow) readDone() bool {
	if f.tail != nil {
		return f.tail.Done()
	}
	return f.feed.Done()
}

// flushIdle emits multi-line records that waited past their timeout.
func (f *flow) flushIdle() error {
	if f.cfg.Multiline == nil {
		return nil
	}
	if f.tail != nil {
		for _, tf := range f.tail.Files() {
			if s, ok := tf.Aux.(*source); ok && f.proc.Pending(&s.src) {
				if err := f.proc.FlushIdle(&s.src, f.now, s); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if o := f.feed.Current(); o != nil {
		if s, ok := o.Aux.(*source); ok && f.proc.Pending(&s.src) {
			return f.proc.FlushIdle(&s.src, f.now, s)
		}
	}
	return nil
}

func (f *flow) closeReader() {
	if f.tail != nil {
		f.tail.Close()
	}
	if f.feed != nil {
		f.feed.Close()
	}
}

// FlowSnapshot is one flow's totals and sources.
type FlowSnapshot struct {
	Name, Destination          string
	LinesRead, BytesRead       int64
	RecordsAdded, RecordsPut   int64 // records handed to the sender / acknowledged
	BytesPut                   int64
	Entries, Calls, CallErrors int64 // service records put, API calls, calls that failed whole
	Resent                     int64 // service records resent after failing inside a call
	BufferedBytes              int64
	DeadLetters, Skipped       map[string]int64
	Sources                    []SourceSnapshot
	LastError                  string
	LastSuccess                time.Time
}

// SourceSnapshot is one file or object.
type SourceSnapshot struct {
	Name      string
	Committed int64 // bytes delivered
	Lag       int64 // known size minus committed
	Done      bool
}

func (f *flow) snapshot() FlowSnapshot {
	st := f.sender.Stats()
	s := FlowSnapshot{
		Name: f.name, Destination: f.destination(),
		LinesRead: f.linesRead.Load(), BytesRead: f.bytesRead.Load(),
		RecordsAdded: st.RecordsAdded.Load(), RecordsPut: st.RecordsAcked.Load(), BytesPut: st.BytesAcked.Load(),
		Entries: st.Entries.Load(), Calls: st.Calls.Load(), CallErrors: st.CallErrors.Load(), Resent: st.Resent.Load(),
		BufferedBytes: st.Buffered.Load(), LastError: st.LastError(),
		DeadLetters: map[string]int64{}, Skipped: map[string]int64{},
	}
	if ns := st.LastSuccess.Load(); ns > 0 {
		s.LastSuccess = time.Unix(0, ns)
	}
	f.countsMu.Lock()
	for k, v := range f.deadByReason {
		s.DeadLetters[k] = v
	}
	for k, v := range f.skipped {
		s.Skipped[k] = v
	}
	f.countsMu.Unlock()
	for _, p := range f.store.Sources(f.name) {
		id := p.Identity()
		name := id.Path
		if id.Kind == "object" {
			name = "s3://" + f.bucket + "/" + id.Path
		}
		s.Sources = append(s.Sources, SourceSnapshot{Name: name, Committed: p.Committed().Offset, Lag: p.Lag(), Done: p.Done()})
	}
	return s
}

func (f *flow) destination() string {
	if f.cfg.KinesisStream != "" {
		return "kinesis:" + f.cfg.KinesisStream
	}
	return "firehose:" + f.cfg.FirehoseDeliveryStream
}

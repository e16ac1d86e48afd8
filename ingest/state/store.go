package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// fileVersion is the checkpoint file's format version.
const fileVersion = 1

// file is the checkpoint file's JSON.
type file struct {
	Version int                `json:"version"`
	Written time.Time          `json:"written"`
	Flows   map[string][]Entry `json:"flows"`
}

// Store is the checkpoint file and the sources whose progress goes into it.
type Store struct {
	path string
	// BeforeWrite, when set, runs before every write (the agent syncs its
	// dead-letter file there: a checkpoint may count a line as handled
	// because it was dead-lettered only once the dead letter is durable).
	BeforeWrite func() error
	// Interval is the longest a change waits to be written when nothing
	// waits for it (WaitCovered asks for a write at once); default 1s.
	Interval time.Duration

	mu      sync.Mutex
	live    map[string]map[*Progress]struct{}
	carried map[string][]Entry // loaded, not yet taken by their flow

	writeMu sync.Mutex // one write at a time
	dirty   chan struct{}
	urgent  chan struct{} // a WaitCovered waits
	writes  atomic.Int64
	lastErr atomic.Pointer[error]

	// Writes started and finished, and a channel closed (and replaced) at
	// each finish, for WaitCovered.
	seqMu             sync.Mutex
	started, finished int64
	finishedCh        chan struct{}
}

// Open reads the checkpoint file at path (a missing file is an empty
// checkpoint). Its directory must exist or be creatable.
func Open(path string) (*Store, error) {
	s := &Store{path: path, live: map[string]map[*Progress]struct{}{}, carried: map[string][]Entry{},
		dirty: make(chan struct{}, 1), urgent: make(chan struct{}, 1), finishedCh: make(chan struct{})}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("state: read %s: %w", path, err)
	}
	var f file
	if err := json.Unmarshal(raw, &f); err != nil {
		// Never silently start over: that would send every file again.
		return nil, fmt.Errorf("state: %s is not a checkpoint file (%w); move it away to start from scratch", path, err)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("state: %s has version %d, this agent reads %d", path, f.Version, fileVersion)
	}
	for flow, entries := range f.Flows {
		s.carried[flow] = entries
	}
	return s, nil
}

// Path returns the checkpoint file's path.
func (s *Store) Path() string { return s.path }

// Take returns the loaded entries of a flow and stops carrying them: from
// now on the flow's checkpoint is what it tracks. Call it once per flow,
// before tracking its sources.
func (s *Store) Take(flow string) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.carried[flow]
	delete(s.carried, flow)
	return e
}

// Track starts tracking a source of flow from start.
func (s *Store) Track(flow string, id Identity, start Position) *Progress {
	p := NewProgress(id, start)
	p.store = s
	s.mu.Lock()
	if s.live[flow] == nil {
		s.live[flow] = map[*Progress]struct{}{}
	}
	s.live[flow][p] = struct{}{}
	s.mu.Unlock()
	s.changed()
	return p
}

// Forget stops tracking a source (a deleted file whose records were all
// acknowledged, an object no longer listed).
func (s *Store) Forget(flow string, p *Progress) {
	s.mu.Lock()
	delete(s.live[flow], p)
	s.mu.Unlock()
	p.setForgotten()
	s.changed()
}

// Sources returns the tracked sources of a flow.
func (s *Store) Sources(flow string) []*Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Progress, 0, len(s.live[flow]))
	for p := range s.live[flow] {
		out = append(out, p)
	}
	return out
}

func (s *Store) changed() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// Run writes the checkpoint until ctx is done, then once more and returns:
// at once when WaitCovered asks for it, otherwise at most Interval after a
// change (changes are coalesced). A failed write is retried a second later.
func (s *Store) Run(ctx context.Context) {
	interval := s.Interval
	if interval <= 0 {
		interval = time.Second
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	armed := false
	arm := func(d time.Duration) {
		if !armed {
			timer.Reset(d)
			armed = true
		}
	}
	for {
		select {
		case <-ctx.Done():
			s.Flush()
			return
		case <-s.dirty:
			arm(interval)
			continue
		case <-s.urgent:
		case <-timer.C:
			armed = false
		}
		if armed {
			timer.Stop() // (Go 1.23+: no stale tick is delivered after Stop)
		}
		armed = false
		if err := s.Flush(); err != nil {
			arm(time.Second)
		}
	}
}

// WaitCovered blocks until the checkpoint written covers every record of
// tickets (acknowledged ones: an unacknowledged record is never covered),
// or ctx ends. The agent's put workers call it after a call's records were
// acknowledged and before the next call, so that at most one call per
// worker is sent and not yet in the checkpoint: what a crash can make the
// agent send twice.
func (s *Store) WaitCovered(ctx context.Context, tickets []Ticket) error {
	// The records of one source are registered in order, so the last
	// ticket of each source is the one to wait for.
	type mark struct {
		p   *Progress
		off int64
	}
	var marks []mark
	for _, t := range tickets {
		if t.p == nil {
			continue
		}
		if k := len(marks); k > 0 && marks[k-1].p == t.p {
			marks[k-1].off = max(marks[k-1].off, t.off)
			continue
		}
		marks = append(marks, mark{t.p, t.off})
	}
	poll := time.NewTimer(time.Hour)
	defer poll.Stop()
	for {
		s.seqMu.Lock()
		ch := s.finishedCh
		s.seqMu.Unlock()
		covered, committed := true, true
		for _, m := range marks {
			if !m.p.covered(m.off) {
				covered = false
				committed = committed && m.p.committedPast(m.off)
			}
		}
		if covered {
			return nil
		}
		if !committed {
			// An earlier record (another worker's call) is still in flight:
			// look again shortly rather than make writes that cannot help.
			poll.Reset(5 * time.Millisecond)
			select {
			case <-poll.C:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case s.urgent <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush writes the checkpoint now.
func (s *Store) Flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.seqMu.Lock()
	s.started++
	seq := s.started
	s.seqMu.Unlock()
	defer func() {
		s.seqMu.Lock()
		s.finished = seq
		close(s.finishedCh)
		s.finishedCh = make(chan struct{})
		s.seqMu.Unlock()
	}()
	err := s.write()
	if err != nil {
		s.lastErr.Store(&err)
	} else {
		s.lastErr.Store(nil)
		s.writes.Add(1)
	}
	return err
}

// Writes returns how many checkpoints were written.
func (s *Store) Writes() int64 { return s.writes.Load() }

// Err returns the last write's error, nil when it succeeded.
func (s *Store) Err() error {
	if e := s.lastErr.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *Store) write() error {
	if s.BeforeWrite != nil {
		if err := s.BeforeWrite(); err != nil {
			return fmt.Errorf("state: before write: %w", err)
		}
	}
	f := file{Version: fileVersion, Written: time.Now().UTC(), Flows: map[string][]Entry{}}
	s.mu.Lock()
	for flow, entries := range s.carried {
		f.Flows[flow] = entries
	}
	sources := make(map[string][]*Progress, len(s.live))
	for flow, ps := range s.live {
		for p := range ps {
			sources[flow] = append(sources[flow], p)
		}
	}
	s.mu.Unlock()
	written := map[*Progress]Position{}
	for flow, ps := range sources {
		entries := make([]Entry, 0, len(ps))
		for _, p := range ps {
			e := p.entry()
			entries = append(entries, e)
			written[p] = e.Position
		}
		sort.Slice(entries, func(i, j int) bool {
			a, b := entries[i], entries[j]
			if a.Path != b.Path {
				return a.Path < b.Path
			}
			return a.Inode < b.Inode
		})
		f.Flows[flow] = entries
	}
	raw, err := json.MarshalIndent(&f, "", " ")
	if err != nil {
		return fmt.Errorf("state: encode: %w", err)
	}
	if err := WriteFileAtomic(s.path, raw); err != nil {
		return err
	}
	for p, pos := range written {
		p.setPersisted(pos)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a crash leaves either
// the old or the new content: a temporary file in the same directory,
// fsynced, renamed over path, and the directory fsynced.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("state: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("state: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state: rename to %s: %w", path, err)
	}
	done = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("state: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("state: sync %s: %w", dir, err)
	}
	return nil
}

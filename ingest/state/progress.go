package state

import (
	"sync"
	"sync/atomic"
)

// Identity says which source a checkpoint entry belongs to.
type Identity struct {
	// Kind is "file" or "object".
	Kind string `json:"kind"`
	// Path is a file's path when last seen, or an object's key.
	Path string `json:"path"`
	// Dev and Inode identify a file on its host; FP is the hex SHA-256
	// prefix of its first FPLen bytes, which tells a reused inode or a
	// truncated-and-rewritten file from the one the offset belongs to.
	Dev   uint64 `json:"dev,omitempty"`
	Inode uint64 `json:"inode,omitempty"`
	FPLen int    `json:"fp_len,omitempty"`
	FP    string `json:"fp,omitempty"`
	// ETag and Size identify an object's version.
	ETag string `json:"etag,omitempty"`
	Size int64  `json:"size,omitempty"`
}

// Position is a place in a source: the byte offset after the last line
// covered and how many lines precede it.
type Position struct {
	Offset int64 `json:"offset"`
	Lines  int64 `json:"lines"`
}

// Entry is one source's checkpoint.
type Entry struct {
	Identity
	Position
	// Done: every line of the source was delivered (objects; a file is
	// never done, it may grow).
	Done bool `json:"done,omitempty"`
}

// Progress tracks one source. Records are registered in the order they
// were read, each with the position after its last line; Committed is the
// position of the last record of the longest acknowledged prefix.
type Progress struct {
	store *Store // notified of every change; nil in tests

	mu        sync.Mutex
	id        Identity
	committed Position
	done      bool
	// pending records, oldest first, in a ring: ring[(head+i)%len] is
	// sequence number base+i.
	ring    []pending
	head, n int
	base    uint64
	// waiters are tickets of other sources to acknowledge once this one is
	// committed at least to an offset (see AckWhenCommitted).
	waiters []waiter

	size atomic.Int64 // the source's latest known size, for the lag metric

	// persisted is the committed position in the last checkpoint written;
	// forgotten: the store no longer writes this source (so nothing waits
	// for it to be persisted).
	persisted Position
	forgotten bool
}

type pending struct {
	pos   Position
	acked bool
}

type waiter struct {
	offset int64
	t      Ticket
}

// Ticket acknowledges one registered record.
type Ticket struct {
	p   *Progress
	seq uint64
	off int64 // the record's end
}

// NewProgress tracks a source from start; Store.Track is the usual way.
func NewProgress(id Identity, start Position) *Progress {
	return &Progress{id: id, committed: start}
}

// Register adds a record ending at pos (after every record registered
// before it) and returns the ticket that acknowledges it.
func (p *Progress) Register(pos Position) Ticket {
	p.mu.Lock()
	if p.n == len(p.ring) {
		p.grow()
	}
	p.ring[(p.head+p.n)%len(p.ring)] = pending{pos: pos}
	seq := p.base + uint64(p.n)
	p.n++
	p.mu.Unlock()
	return Ticket{p: p, seq: seq, off: pos.Offset}
}

func (p *Progress) grow() {
	ring := make([]pending, max(16, 2*len(p.ring)))
	for i := range p.n {
		ring[i] = p.ring[(p.head+i)%len(p.ring)]
	}
	p.ring, p.head = ring, 0
}

// Skip records that the lines up to pos carry no record (headers, empty
// lines, dead letters already written): they count as acknowledged.
func (p *Progress) Skip(pos Position) {
	p.mu.Lock()
	if p.n == 0 {
		if pos != p.committed {
			p.committed = pos
			p.mu.Unlock()
			p.changed()
			return
		}
		p.mu.Unlock()
		return
	}
	if last := &p.ring[(p.head+p.n-1)%len(p.ring)]; last.acked {
		last.pos = pos // extend an acknowledged tail instead of adding one
		p.mu.Unlock()
		return
	}
	if p.n == len(p.ring) {
		p.grow()
	}
	p.ring[(p.head+p.n)%len(p.ring)] = pending{pos: pos, acked: true}
	p.n++
	p.mu.Unlock()
}

// Ack acknowledges the ticket's record. Acknowledging twice is a no-op.
func (t Ticket) Ack() {
	if t.p != nil {
		t.p.ack(t.seq)
	}
}

// Valid reports whether the ticket came from Register.
func (t Ticket) Valid() bool { return t.p != nil }

func (p *Progress) ack(seq uint64) {
	p.mu.Lock()
	if seq < p.base || seq >= p.base+uint64(p.n) {
		p.mu.Unlock()
		return
	}
	p.ring[(p.head+int(seq-p.base))%len(p.ring)].acked = true
	moved := false
	for p.n > 0 && p.ring[p.head].acked {
		p.committed = p.ring[p.head].pos
		p.head = (p.head + 1) % len(p.ring)
		p.n--
		p.base++
		moved = true
	}
	var ready []Ticket
	if moved && len(p.waiters) > 0 {
		kept := p.waiters[:0]
		for _, w := range p.waiters {
			if w.offset <= p.committed.Offset {
				ready = append(ready, w.t)
			} else {
				kept = append(kept, w)
			}
		}
		p.waiters = kept
	}
	p.mu.Unlock()
	for _, t := range ready {
		t.Ack()
	}
	if moved {
		p.changed()
	}
}

// AckWhenCommitted acknowledges t once this source is committed at least to
// offset: a copy of a file (copytruncate) may be committed past the bytes
// it shares with the original only when the original's records for them
// were delivered.
func (p *Progress) AckWhenCommitted(offset int64, t Ticket) {
	p.mu.Lock()
	if p.committed.Offset >= offset {
		p.mu.Unlock()
		t.Ack()
		return
	}
	p.waiters = append(p.waiters, waiter{offset, t})
	p.mu.Unlock()
}

// Committed returns the position up to which everything was acknowledged.
func (p *Progress) Committed() Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.committed
}

// Pending returns how many registered records await acknowledgement.
func (p *Progress) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := range p.n {
		if !p.ring[(p.head+i)%len(p.ring)].acked {
			n++
		}
	}
	return n
}

// Settled reports whether nothing registered is unacknowledged and no
// other source waits on this one.
func (p *Progress) Settled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n == 0 && len(p.waiters) == 0
}

// SetIdentity updates what the checkpoint says the source is (a file's
// path after a rename, a longer fingerprint once the file grew).
func (p *Progress) SetIdentity(id Identity) {
	p.mu.Lock()
	changed := p.id != id
	p.id = id
	p.mu.Unlock()
	if changed {
		p.changed()
	}
}

// Identity returns the source's identity.
func (p *Progress) Identity() Identity {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id
}

// MarkDone records that every line of the source was read; Entry.Done
// becomes true once they are all acknowledged too.
func (p *Progress) MarkDone() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.changed()
}

// Done reports whether the source was read to its end and all of it was
// acknowledged.
func (p *Progress) Done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done && p.n == 0
}

// SetSize records the source's latest known size (for the lag metric).
func (p *Progress) SetSize(n int64) { p.size.Store(n) }

// Lag is the latest known size minus the committed offset (0 when unknown).
func (p *Progress) Lag() int64 {
	size := p.size.Load()
	c := p.Committed().Offset
	if size <= c {
		return 0
	}
	return size - c
}

func (p *Progress) entry() Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Entry{Identity: p.id, Position: p.committed, Done: p.done && p.n == 0}
}

func (p *Progress) setPersisted(pos Position) {
	p.mu.Lock()
	p.persisted = pos
	p.mu.Unlock()
}

func (p *Progress) setForgotten() {
	p.mu.Lock()
	p.forgotten = true
	p.mu.Unlock()
}

// committedPast reports whether the committed position reached off (or the
// source is forgotten).
func (p *Progress) committedPast(off int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forgotten || p.committed.Offset >= off
}

// covered reports whether the last checkpoint written covers off.
func (p *Progress) covered(off int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forgotten || p.persisted.Offset >= off
}

func (p *Progress) changed() {
	if p.store != nil {
		p.store.changed()
	}
}

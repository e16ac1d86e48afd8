package consumer

import (
	"fmt"
	"sync"
	"time"
)

// ackTracker keeps one shard's batches in read order and reports the last
// sequence number below which every batch is acked. Batches may be acked in
// any order; the checkpoint only moves over a contiguous acked prefix.
type ackTracker struct {
	mu      sync.Mutex
	pending []trackedBatch // in read order; pending[0] has id base
	base    uint64
	// acked is the highest contiguous acked sequence not yet returned by
	// takeCheckpoint ("" when nothing new).
	acked        string
	ackedArrival time.Time
	// failed is the first error an output reported; once set the shard's
	// checkpoint never advances again in this process.
	failed error
	// idle is closed whenever pending is empty, so waitIdle blocks without
	// polling.
	idle chan struct{}
}

type trackedBatch struct {
	lastSeq string
	arrival time.Time // of the batch's last record
	done    bool
}

func newAckTracker() *ackTracker {
	t := &ackTracker{idle: make(chan struct{})}
	close(t.idle)
	return t
}

// add registers a batch whose last record has sequence lastSeq and returns
// the function that acks it, which must be called exactly once.
func (t *ackTracker) add(lastSeq string, arrival time.Time) func(error) {
	t.mu.Lock()
	if len(t.pending) == 0 {
		t.idle = make(chan struct{})
	}
	t.pending = append(t.pending, trackedBatch{lastSeq: lastSeq, arrival: arrival})
	id := t.base + uint64(len(t.pending)) - 1
	t.mu.Unlock()
	var once sync.Once
	return func(err error) {
		first := false
		once.Do(func() { first = true; t.ack(id, err) })
		if !first {
			panic(fmt.Sprintf("consumer: batch ending at sequence %s acked twice", lastSeq))
		}
	}
}

func (t *ackTracker) ack(id uint64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil && t.failed == nil {
		t.failed = err
	}
	t.pending[id-t.base].done = true
	n := 0
	for n < len(t.pending) && t.pending[n].done {
		n++
	}
	if n == 0 {
		return
	}
	if t.failed == nil {
		t.acked, t.ackedArrival = t.pending[n-1].lastSeq, t.pending[n-1].arrival
	}
	t.pending = t.pending[n:]
	t.base += uint64(n)
	if len(t.pending) == 0 {
		t.pending = nil // let the old backing array go
		close(t.idle)
	}
}

// takeCheckpoint returns the sequence a checkpoint may now advance to (and
// that record's arrival time), or "" when nothing new was acked or an
// output failed.
func (t *ackTracker) takeCheckpoint() (string, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return "", time.Time{}
	}
	s, at := t.acked, t.ackedArrival
	t.acked = ""
	return s, at
}

// err returns the first output failure, if any.
func (t *ackTracker) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// inFlight is the number of batches not yet acked or passed over.
func (t *ackTracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// idleCh returns a channel closed once nothing is pending.
func (t *ackTracker) idleCh() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idle
}

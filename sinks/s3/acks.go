package s3

import (
	"sync"

	"github.com/shardflow/shardflow/flow"
)

// pendingWrite is one accepted Write. It is acked when left reaches 0: one
// hold per file with its rows, plus Write's own until it returns.
type pendingWrite struct {
	ack  flow.Ack
	left int
	err  error // the first failure of any of its files
}

// ackQueue delivers acks in Write order. Callbacks run outside its lock, on
// one goroutine at a time (the one that set delivering), so they are never
// concurrent and never out of order.
type ackQueue struct {
	mu         sync.Mutex
	q          []*pendingWrite
	delivering bool
}

func (a *ackQueue) push(pw *pendingWrite) {
	a.mu.Lock()
	a.q = append(a.q, pw)
	a.mu.Unlock()
}

// hold makes pw wait for one more file.
func (a *ackQueue) hold(pw *pendingWrite) {
	a.mu.Lock()
	pw.left++
	a.mu.Unlock()
}

// fail records err for pw without releasing anything.
func (a *ackQueue) fail(pw *pendingWrite, err error) {
	a.mu.Lock()
	if pw.err == nil {
		pw.err = err
	}
	a.mu.Unlock()
}

// release drops one hold of pw (recording err) and delivers what is due.
func (a *ackQueue) release(pw *pendingWrite, err error) {
	a.resolve([]*pendingWrite{pw}, err)
}

// resolve drops one hold of each write (a file's outcome) and delivers.
func (a *ackQueue) resolve(pws []*pendingWrite, err error) {
	a.mu.Lock()
	for _, pw := range pws {
		if err != nil && pw.err == nil {
			pw.err = err
		}
		pw.left--
	}
	if a.delivering {
		a.mu.Unlock() // the deliverer loops and sees this
		return
	}
	a.delivering = true
	for {
		n := 0
		for n < len(a.q) && a.q[n].left == 0 {
			n++
		}
		if n == 0 {
			a.delivering = false
			a.mu.Unlock()
			return
		}
		ready := a.q[:n]
		a.q = a.q[n:]
		if len(a.q) == 0 {
			a.q = nil // let the old backing array go
		}
		a.mu.Unlock()
		for _, pw := range ready {
			pw.ack(pw.err)
		}
		a.mu.Lock()
	}
}

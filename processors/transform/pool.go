package transform

import "sync"

// Pool keeps per-call scratch (builders, VMs) of a stage for reuse by
// concurrent Process calls. Unlike sync.Pool it is bounded and owns what it
// holds: Close frees every idle value, and values put back after Close are
// freed at once, so a stage's memory is accounted for when it closes.
type Pool[T any] struct {
	New  func() T // makes a value when none is idle
	Free func(T)  // releases a value the pool drops; may be nil
	Max  int      // idle values kept; 0 means 8

	mu     sync.Mutex
	idle   []T
	closed bool
}

// Get returns an idle value or a new one.
func (p *Pool[T]) Get() T {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		v := p.idle[n-1]
		var zero T
		p.idle[n-1] = zero
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return v
	}
	p.mu.Unlock()
	return p.New()
}

// Put returns v for reuse, or frees it when the pool is full or closed.
func (p *Pool[T]) Put(v T) {
	limit := p.Max
	if limit == 0 {
		limit = 8
	}
	p.mu.Lock()
	if !p.closed && len(p.idle) < limit {
		p.idle = append(p.idle, v)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if p.Free != nil {
		p.Free(v)
	}
}

// Close frees every idle value; values Put afterwards are freed at once.
func (p *Pool[T]) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	if p.Free != nil {
		for _, v := range idle {
			p.Free(v)
		}
	}
}

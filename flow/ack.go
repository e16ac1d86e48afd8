package flow

import "sync"

// JoinAcks returns an Ack that must be called n times; on the n-th call it
// calls ack once with the first non-nil error seen (or nil). n must be > 0.
func JoinAcks(n int, ack Ack) Ack {
	if n == 1 {
		return ack
	}
	var (
		mu    sync.Mutex
		left  = n
		first error
	)
	return func(err error) {
		mu.Lock()
		if err != nil && first == nil {
			first = err
		}
		left--
		if left < 0 {
			mu.Unlock()
			panic("flow: joined ack called more times than joined")
		}
		done := left == 0
		mu.Unlock()
		if done {
			ack(first)
		}
	}
}

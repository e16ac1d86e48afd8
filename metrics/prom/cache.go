package prom

import (
	"strings"
	"sync"
)

// overflowValue replaces label values past a family's limit so that a bug
// (or a hostile reason text) cannot create unbounded series.
const overflowValue = "other"

// series caches the label-bound children of one label key (a shard, a
// stream, an operator) so that a hook call for a value seen before is a
// map lookup under a read lock: no label slice, no hashing of label values
// by client_golang, no allocation.
type series[K comparable, V any] struct {
	mu    sync.RWMutex
	m     map[K]V
	make  func(K) V // given the kept (cloned) key
	clone func(K) K // copies a key before it is kept
	limit int       // most distinct keys; 0: no limit
	over  K         // the key that stands for every key past the limit
}

func newSeries[K comparable, V any](limit int, over K, clone func(K) K, make func(K) V) *series[K, V] {
	return &series[K, V]{m: map[K]V{}, make: make, clone: clone, limit: limit, over: over}
}

// get returns k's children, creating them on first use.
func (s *series[K, V]) get(k K) V {
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok = s.m[k]; ok {
		return v
	}
	if s.limit > 0 && len(s.m) >= s.limit {
		// Past the limit every new key shares the overflow children (and
		// takes this slow path each time, which is fine for a bug's sake).
		k = s.over
		if v, ok = s.m[k]; ok {
			return v
		}
	} else {
		k = s.clone(k)
	}
	v = s.make(k)
	s.m[k] = v
	return v
}

// remove drops k's children from the cache and calls drop under the
// cache's lock (whether k was cached or not), so that no concurrent get can
// cache children that drop is deleting from their vector.
func (s *series[K, V]) remove(k K, drop func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	drop()
}

// labelValue makes a kept key a label value: valid UTF-8, which
// client_golang requires, and not empty.
func labelValue(s string) string {
	if s == "" {
		return "none"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

type opAction struct{ op, action string }

func cloneOpAction(k opAction) opAction {
	return opAction{strings.Clone(k.op), strings.Clone(k.action)}
}

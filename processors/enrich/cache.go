package enrich

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cache is a size-bounded cache of entries with per-entry expiry, shared by
// every concurrent Process call of one lookup. Eviction approximates LRU
// the way Redis does: when full, it samples evictionSample slots and evicts
// an expired one, else the least recently used of the sample.
//
// A lookup holds the lock shared and marks each hit used with an atomic
// store of the call's tick, so lookups of concurrent batches (one per shard)
// never wait for each other and a hit costs one map probe and one slot; an
// exact LRU list would need the exclusive lock and three list nodes written
// per hit. Only put takes the lock exclusively.
type cache struct {
	mu    sync.RWMutex
	size  int
	index map[string]int32 // key -> index into slots
	slots []slot
	tick  atomic.Uint64 // advanced once per lookup or put call
}

// slot is one cached key. used is written under the shared lock (atomic);
// everything else only under the exclusive lock.
type slot struct {
	key     string
	e       *entry
	expires int64 // unix nanoseconds
	used    atomic.Uint64
}

// evictionSample is how many slots an eviction compares (Redis's
// maxmemory-samples defaults to 5; 16 is closer to exact LRU for little
// more work, as it runs once per fetched key only when the cache is full).
const evictionSample = 16

func newCache(size int) *cache {
	return &cache{size: size, index: make(map[string]int32, min(size, 1<<16))}
}

// lookup sets entries[i] for every key found and not expired at now, and
// returns the indices of the other keys appended to missed.
func (c *cache) lookup(keys []string, entries []*entry, now time.Time, missed []int32) []int32 {
	tick := c.tick.Add(1)
	at := now.UnixNano()
	c.mu.RLock()
	for i, k := range keys {
		j, ok := c.index[k]
		if !ok {
			missed = append(missed, int32(i))
			continue
		}
		s := &c.slots[j]
		if at >= s.expires {
			missed = append(missed, int32(i))
			continue
		}
		entries[i] = s.e
		if s.used.Load() < tick { // write once per batch: no store when another shard just did
			s.used.Store(tick)
		}
	}
	c.mu.RUnlock()
	return missed
}

// store is one fetched entry to cache.
type store struct {
	key     string
	e       *entry
	expires time.Time
}

// put caches entries, evicting beyond the size (expired first, then the
// least recently used of a sample).
func (c *cache) put(items []store, now time.Time) {
	if len(items) == 0 {
		return
	}
	tick := c.tick.Add(1)
	at := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		if j, ok := c.index[it.key]; ok {
			s := &c.slots[j]
			s.e, s.expires = it.e, it.expires.UnixNano()
			s.used.Store(tick)
			continue
		}
		// The key is a substring of a whole batch's keys: copy it so the
		// cache does not keep that batch's string alive.
		key := strings.Clone(it.key)
		var j int
		if len(c.slots) < c.size {
			j = len(c.slots)
			c.slots = append(c.slots, slot{})
		} else {
			j = c.victim(at)
			delete(c.index, c.slots[j].key)
		}
		s := &c.slots[j]
		s.key, s.e, s.expires = key, it.e, it.expires.UnixNano()
		s.used.Store(tick)
		c.index[key] = int32(j)
	}
}

// victim returns the slot to reuse: an expired one of the sample if any,
// else the one used least recently (the first of equals). A cache of at
// most evictionSample slots compares them all, so it is an exact LRU.
func (c *cache) victim(at int64) int {
	n := len(c.slots)
	if n <= evictionSample {
		return c.oldest(at, func(k int) int { return k })
	}
	return c.oldest(at, func(int) int { return rand.IntN(n) })
}

func (c *cache) oldest(at int64, pick func(k int) int) int {
	best := -1
	var bestUsed uint64
	for k := range min(len(c.slots), evictionSample) {
		j := pick(k)
		s := &c.slots[j]
		if at >= s.expires {
			return j
		}
		if u := s.used.Load(); best < 0 || u < bestUsed {
			best, bestUsed = j, u
		}
	}
	return best
}

// len returns the number of cached keys.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.index)
}

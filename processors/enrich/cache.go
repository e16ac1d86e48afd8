package enrich

import (
	"strings"
	"sync"
	"time"
)

// cache is a size-bounded LRU of entries with per-entry expiry, shared by
// every concurrent Process call of one lookup. A batch takes the lock shared
// to look up all its distinct keys, then exclusively to move its hits to the
// front, and exclusively once more to store what it fetched.
type cache struct {
	// mu is held shared to look keys up and exclusively to reorder the
	// list and to store: lookups of concurrent batches (one per shard)
	// run in parallel, and the exclusive part is only the list moves.
	mu         sync.RWMutex
	size       int
	m          map[string]*node
	head, tail *node // head is the most recently used
}

type node struct {
	key        string
	e          *entry
	expires    time.Time
	prev, next *node
}

func newCache(size int) *cache {
	return &cache{size: size, m: make(map[string]*node, min(size, 1<<16))}
}

// lookup sets entries[i] for every key found and not expired at now, and
// returns the indices of the other keys appended to missed.
//
// The hits are then moved to the front in key order, as if each had been
// touched when found; a hit evicted by a concurrent put in between is not
// moved (it is no longer cached), and its entry is still used for this
// batch, as a lookup under one exclusive lock would have used it.
func (c *cache) lookup(keys []string, entries []*entry, now time.Time, missed []int32) []int32 {
	hits, base := 0, len(missed)
	c.mu.RLock()
	for i, k := range keys {
		n := c.m[k]
		if n == nil || !now.Before(n.expires) {
			missed = append(missed, int32(i))
			continue
		}
		entries[i] = n.e
		hits++
	}
	c.mu.RUnlock()
	if hits == 0 {
		return missed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := base // index into missed, whose new part is in key order
	for i, k := range keys {
		if m < len(missed) && int(missed[m]) == i {
			m++
			continue
		}
		if n := c.m[k]; n != nil {
			c.touch(n)
		}
	}
	return missed
}

// store is one fetched entry to cache.
type store struct {
	key     string
	e       *entry
	expires time.Time
}

// put caches entries, evicting the least recently used beyond the size.
func (c *cache) put(items []store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range items {
		if n := c.m[it.key]; n != nil {
			n.e, n.expires = it.e, it.expires
			c.touch(n)
			continue
		}
		// The key is a substring of a whole batch's keys: copy it so the
		// cache does not keep that batch's string alive.
		n := &node{key: strings.Clone(it.key), e: it.e, expires: it.expires}
		c.m[n.key] = n
		c.pushFront(n)
		if len(c.m) > c.size {
			old := c.tail
			c.unlink(old)
			delete(c.m, old.key)
		}
	}
}

// len returns the number of cached keys.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func (c *cache) touch(n *node) {
	if c.head != n {
		c.unlink(n)
		c.pushFront(n)
	}
}

func (c *cache) pushFront(n *node) {
	n.prev, n.next = nil, c.head
	if c.head != nil {
		c.head.prev = n
	}
	c.head = n
	if c.tail == nil {
		c.tail = n
	}
}

func (c *cache) unlink(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		c.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		c.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

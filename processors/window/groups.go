package window

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// groupIndex gives each distinct group key of a shard (the encoding of a
// row's group-by values, appendGroupKey) a dense id, so that a row finds its
// group's state in a window by indexing an array. With frequent flushes
// almost every row's group is new to the window being filled, so finding the
// id is the window's main per-row cost.
//
// It is an open-addressing table of fixed-size slots that hold the key's
// hash and its first 24 bytes: a lookup of a key up to 24 bytes long (a
// country and a page, say) touches one slot and no other memory, where a Go
// map of strings also reads the stored key's bytes from elsewhere. Keys are
// kept back to back in one arena.
//
// The index only grows between flushes; reset (when the shard holds no
// partials) bounds it.
type groupIndex struct {
	kinds []kind
	seed  maphash.Seed
	slots []groupSlot // length a power of two, at most half full
	arena []byte      // keys, back to back
	offs  []uint32    // id → start of its key in arena; one more for the end
	buf   []byte
}

type groupSlot struct {
	hash       uint64 // 0: empty (hashes are made odd)
	k0, k1, k2 uint64 // the key's first 24 bytes, zero padded
	n          uint32 // key length
	id         int32
}

// maxGroupIDs and maxGroupBytes bound the index: past them it is reset at
// the next flush (its table, ~6 MB at 65,536 ids, and a large key arena are then freed). A shard
// whose flushes see more groups than that pays for new ids after every
// flush, as before the index existed, rather than holding tens of MB per
// shard when one task serves many shards.
const (
	maxGroupIDs   = 1 << 16
	maxGroupBytes = 8 << 20
)

func newGroupIndex(kinds []kind) *groupIndex {
	g := &groupIndex{kinds: kinds, seed: maphash.MakeSeed()}
	g.reset()
	return g
}

// reset forgets every id. Only valid while no partial refers to one.
func (g *groupIndex) reset() {
	if len(g.slots) != 1024 {
		g.slots = make([]groupSlot, 1024)
	} else {
		clear(g.slots)
	}
	if cap(g.arena) > 1<<20 { // grown for many groups: let it go
		g.arena, g.offs = nil, nil
	}
	g.arena = g.arena[:0]
	g.offs = append(g.offs[:0], 0)
}

// len is the number of ids.
func (g *groupIndex) len() int { return len(g.offs) - 1 }

// key is id's encoded group key (valid until the index grows).
func (g *groupIndex) key(id int32) []byte { return g.arena[g.offs[id]:g.offs[id+1]] }

// full says whether the index grew past its bounds.
func (g *groupIndex) full() bool { return g.len() > maxGroupIDs || len(g.arena) > maxGroupBytes }

// id returns the group id of row, adding it when new.
func (g *groupIndex) id(cols []column, row int) int32 {
	g.buf = appendGroupKey(g.buf[:0], cols, g.kinds, row)
	key := g.buf
	h := maphash.Bytes(g.seed, key) | 1
	var head [24]byte
	copy(head[:], key)
	k0, k1, k2 := binary.LittleEndian.Uint64(head[:8]), binary.LittleEndian.Uint64(head[8:16]), binary.LittleEndian.Uint64(head[16:])
	mask := uint64(len(g.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &g.slots[i]
		if s.hash == 0 {
			return g.add(s, h, k0, k1, k2, key)
		}
		if s.hash == h && s.n == uint32(len(key)) && s.k0 == k0 && s.k1 == k1 && s.k2 == k2 &&
			(len(key) <= 24 || bytes.Equal(g.key(s.id)[24:], key[24:])) {
			return s.id
		}
	}
}

// add stores key with a new id in the empty slot s.
func (g *groupIndex) add(s *groupSlot, h, k0, k1, k2 uint64, key []byte) int32 {
	id := int32(g.len())
	*s = groupSlot{hash: h, k0: k0, k1: k1, k2: k2, n: uint32(len(key)), id: id}
	g.arena = append(g.arena, key...)
	g.offs = append(g.offs, uint32(len(g.arena)))
	if 2*g.len() > len(g.slots) {
		g.grow()
	}
	return id
}

// grow doubles the table.
func (g *groupIndex) grow() {
	old := g.slots
	g.slots = make([]groupSlot, 2*len(old))
	mask := uint64(len(g.slots) - 1)
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := s.hash & mask
		for g.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		g.slots[i] = s
	}
}

// windowGroups are one window's partials on one shard: the states of each
// group seen since the last flush, found by group id.
type windowGroups struct {
	slot   []int32   // group id → 1 + index into ids and states; 0: not seen
	ids    []int32   // group ids, in order of first row
	states [][]state // per group, one state per aggregate
}

// get returns group id's states, if the window has seen the group.
func (w *windowGroups) get(id int32) ([]state, bool) {
	if int(id) < len(w.slot) {
		if k := w.slot[id]; k > 0 {
			return w.states[k-1], true
		}
	}
	return nil, false
}

// add records states as group id's, which get did not find.
func (w *windowGroups) add(id int32, states []state) {
	if int(id) >= len(w.slot) {
		w.slot = append(w.slot, make([]int32, int(id)+1-len(w.slot))...)
	}
	w.ids = append(w.ids, id)
	w.states = append(w.states, states)
	w.slot[id] = int32(len(w.ids))
}

// clear forgets the partials, keeping the memory. trim also drops the
// slot array (when the group index was reset, ids start again from 0).
func (w *windowGroups) clear(trim bool) {
	if trim {
		w.slot = nil
	} else {
		for _, id := range w.ids {
			w.slot[id] = 0
		}
	}
	w.ids = w.ids[:0]
	clear(w.states)
	w.states = w.states[:0]
}

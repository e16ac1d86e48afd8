package window

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Session windows (Options.Gap > 0): a group's session is a run of rows
// whose event times are less than Gap apart; it spans [first row, last row
// + Gap). Shards pre-aggregate session fragments; the emitter merges the
// fragments of all shards per group and emits a session once the global
// watermark passed its end + allowed lateness. A row is late when its own
// fragment [ts, ts+Gap) is already closed; a row arriving after the
// session it would have extended was emitted starts a new session (as in
// Flink, once a session's state is cleaned up).
//
// A shard's fragments live in one list, <...shard}:sessions, of deltas
// (encodeFragments). After an emission, the emitter rewrites the list
// atomically: the items it read are replaced by the fragments of sessions
// still open, and items appended since stay.

// fragment is a session fragment of one group.
type fragment struct {
	start, end int64 // µs; end = last event time + gap
	states     []state
}

// addToSession folds a row into the group's fragments, merging every
// fragment the row's [ts, ts+gap) overlaps.
func (op *Operator) addToSession(s *shardState, key []byte, ts int64, row int) {
	if s.sessions == nil {
		s.sessions = map[string][]fragment{}
	}
	frags := s.sessions[string(key)]
	lo, hi := ts, ts+op.gapUS
	var merged *fragment
	out := frags[:0]
	for i := range frags {
		f := frags[i]
		if f.start < hi && lo < f.end {
			if merged == nil {
				merged = &fragment{start: f.start, end: f.end, states: f.states}
			} else {
				merged.start, merged.end = min(merged.start, f.start), max(merged.end, f.end)
				for j := range op.plans {
					_ = op.plans[j].merge(&merged.states[j], &f.states[j])
				}
			}
			continue
		}
		out = append(out, f)
	}
	if merged == nil {
		merged = &fragment{start: lo, end: hi, states: make([]state, len(op.plans))}
	}
	merged.start, merged.end = min(merged.start, lo), max(merged.end, hi)
	op.foldRow(s, merged.states, ts, row)
	out = append(out, *merged)
	s.sessions[string(key)] = out
}

// encodeFragments serialises a set of groups' fragments:
//
//	version byte, uvarint groups, then per group: uvarint key length,
//	key, uvarint fragments, and per fragment: varint start, varint end
//	and the aggregate states as in encodeDelta.
//
// It also returns the earliest fragment start: the flush is late once
// start + gap is closed (its earliest row's own session would be).
func encodeFragments(dst []byte, plans []aggPlan, groups map[string][]fragment) ([]byte, int64, error) {
	minStart := int64(0)
	first := true
	dst = append(dst, deltaVersion)
	dst = binary.AppendUvarint(dst, uint64(len(groups)))
	for key, frags := range groups {
		dst = binary.AppendUvarint(dst, uint64(len(key)))
		dst = append(dst, key...)
		dst = binary.AppendUvarint(dst, uint64(len(frags)))
		for _, f := range frags {
			if first || f.start < minStart {
				minStart, first = f.start, false
			}
			dst = binary.AppendVarint(dst, f.start)
			dst = binary.AppendVarint(dst, f.end)
			for i := range plans {
				var err error
				if dst, err = plans[i].appendState(dst, &f.states[i]); err != nil {
					return nil, 0, err
				}
			}
		}
	}
	return dst, minStart, nil
}

// shardFragment is a decoded fragment with where it came from.
type shardFragment struct {
	fragment
	key   string
	shard int // index into the emitter's shard list
	order int // position in the shard's list, for a deterministic merge
}

// decodeFragments decodes one delta of fragments and appends them to dst.
func decodeFragments(blob []byte, plans []aggPlan, shard, order int, dst []shardFragment) ([]shardFragment, error) {
	r := deltaReader{b: blob}
	if v := r.bytes(1); v == nil || v[0] != deltaVersion {
		return nil, fmt.Errorf("session delta: unknown version")
	}
	n := r.uvarint()
	for g := uint64(0); g < n && r.err == nil; g++ {
		key := string(r.bytes(r.uvarint()))
		nf := r.uvarint()
		for k := uint64(0); k < nf && r.err == nil; k++ {
			f := shardFragment{key: key, shard: shard, order: order}
			f.start, f.end = r.varint(), r.varint()
			f.states = make([]state, len(plans))
			for i := range plans {
				if err := r.state(&plans[i], &f.states[i]); err != nil {
					return nil, err
				}
			}
			dst = append(dst, f)
			order++
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return dst, r.err
}

// session is a merged session of one group: its fragments (by index) and
// merged states.
type session struct {
	key        string
	start, end int64
	states     []state
	frags      []int
}

// mergeSessions merges fragments per group into sessions: fragments that
// overlap (transitively) form one session. Fragments are folded in a fixed
// order (start, end, shard, order), so a re-emission is identical.
func mergeSessions(plans []aggPlan, frags []shardFragment) ([]session, error) {
	idx := make([]int, len(frags))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		fa, fb := &frags[idx[a]], &frags[idx[b]]
		switch {
		case fa.key != fb.key:
			return fa.key < fb.key
		case fa.start != fb.start:
			return fa.start < fb.start
		case fa.end != fb.end:
			return fa.end < fb.end
		case fa.shard != fb.shard:
			return fa.shard < fb.shard
		}
		return fa.order < fb.order
	})
	var out []session
	for _, i := range idx {
		f := &frags[i]
		if n := len(out); n > 0 && out[n-1].key == f.key && f.start < out[n-1].end {
			s := &out[n-1]
			s.end = max(s.end, f.end)
			for j := range plans {
				if err := plans[j].merge(&s.states[j], &f.states[j]); err != nil {
					return nil, err
				}
			}
			s.frags = append(s.frags, i)
			continue
		}
		s := session{key: f.key, start: f.start, end: f.end, states: make([]state, len(plans)), frags: []int{i}}
		for j := range plans {
			if err := plans[j].merge(&s.states[j], &f.states[j]); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// rewriteScript replaces the first ARGV[1] items of a session list (the
// ones the emitter read) with ARGV[2] (the fragments still open; ” for
// none), keeping items appended since. KEYS: the list.
var rewriteScript = redis.NewScript(`
redis.call('LTRIM', KEYS[1], tonumber(ARGV[1]), -1)
if ARGV[2] ~= '' then redis.call('LPUSH', KEYS[1], ARGV[2]) end
return 1
`)

// emitSessions is the session-window half of an emission cycle: read every
// shard's fragments, merge, emit sessions ending in (emitted, closing],
// record the emission, then rewrite the lists without the emitted ones.
func (e *Emitter) emitSessions(ctx context.Context, token int64, shards []ShardInfo, closing, emitted int64) (int, error) {
	op := e.op
	pipe := op.o.Redis.Pipeline()
	lists := make([]*redis.StringSliceCmd, len(shards))
	for i, s := range shards {
		lists[i] = pipe.LRange(ctx, op.keys.sessions(s.ID), 0, -1)
	}
	if len(shards) == 0 {
		return 0, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("window %s: read session fragments: %w", op.o.Name, err)
	}
	var frags []shardFragment
	read := make([]int, len(shards))
	for i, l := range lists {
		read[i] = len(l.Val())
		order := 0
		for _, blob := range l.Val() {
			var err error
			n := len(frags)
			if frags, err = decodeFragments([]byte(blob), op.plans, i, order, frags); err != nil {
				return 0, fmt.Errorf("window %s: shard %s: %w", op.o.Name, shards[i].ID, err)
			}
			order += len(frags) - n
		}
	}
	sessions, err := mergeSessions(op.plans, frags)
	if err != nil {
		return 0, err
	}
	var closed []closedWindow
	keep := make([]bool, len(frags))
	for _, s := range sessions {
		switch {
		case s.end <= emitted:
			// Emitted before a crash cut the rewrite short: drop it.
		case s.end <= closing:
			closed = append(closed, closedWindow{start: s.start, end: s.end, groups: map[string][]state{s.key: s.states}})
		default:
			for _, i := range s.frags {
				keep[i] = true
			}
		}
	}
	rows := 0
	if len(closed) > 0 {
		if rows, err = e.write(ctx, token, closed); err != nil {
			return 0, err
		}
	}
	if err := e.progress(ctx, token, "emitted", closing); err != nil {
		return rows, err
	}
	// Rewrite each shard's list with its fragments of open sessions.
	remain := make([]map[string][]fragment, len(shards))
	for i, f := range frags {
		if !keep[i] {
			continue
		}
		if remain[f.shard] == nil {
			remain[f.shard] = map[string][]fragment{}
		}
		remain[f.shard][f.key] = append(remain[f.shard][f.key], f.fragment)
	}
	pipe = op.o.Redis.Pipeline()
	for i, s := range shards {
		if read[i] == 0 {
			continue
		}
		blob := ""
		if len(remain[i]) > 0 {
			b, _, err := encodeFragments(nil, op.plans, remain[i])
			if err != nil {
				return rows, err
			}
			blob = string(b)
		}
		rewriteScript.Eval(ctx, pipe, []string{op.keys.sessions(s.ID)}, strconv.Itoa(read[i]), blob)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return rows, fmt.Errorf("window %s: rewrite session fragments: %w", op.o.Name, err)
	}
	return rows, nil
}

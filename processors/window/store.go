package window

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
)

// keySpace names an operator's Redis keys.
//
//	<prefix>:win:{<app>:<op>:<shard>}:mark      hash: seq, sub (applied mark), wm (largest
//	                                            applied event time, µs), active (wall ms of
//	                                            the last flush with rows), closed (windows
//	                                            ending at or before it are closed, µs),
//	                                            finished (1 once SHARD_END); the owner's
//	                                            reader state: seen (wall ms it last wrote
//	                                            it), read (wall ms of its last successful
//	                                            GetRecords, 0: none), caught (wall ms since
//	                                            which every read was caught up and empty,
//	                                            0: the last read was behind)
//	<prefix>:win:{<app>:<op>:<shard>}:windows   zset: window start → window end, windows
//	                                            holding deltas of the shard
//	<prefix>:win:{<app>:<op>:<shard>}:w:<start> list: the shard's deltas of one window
//	<prefix>:win:{<app>:<op>:<shard>}:late:<start> list: late deltas of an emitted
//	                                            window (late_rows update), not yet re-emitted
//	<prefix>:win:{<app>:<op>:<shard>}:updated   zset: window start → end, windows with late deltas
//	<prefix>:win:{<app>:<op>:<shard>}:sessions list: the shard's session fragments
//	<prefix>:win:{<app>:<op>}:emit              hash: holder, expires, token (the emitter
//	                                            lock), closing, emitted, wm
type keySpace struct{ base string }

func newKeySpace(prefix, app, op string) keySpace {
	if prefix == "" {
		prefix = "shardflow"
	}
	return keySpace{base: prefix + ":win:{" + app + ":" + op}
}

func (k keySpace) mark(shard string) string    { return k.base + ":" + shard + "}:mark" }
func (k keySpace) windows(shard string) string { return k.base + ":" + shard + "}:windows" }
func (k keySpace) list(shard string, start int64) string {
	return k.base + ":" + shard + "}:w:" + strconv.FormatInt(start, 10)
}
func (k keySpace) late(shard string, start int64) string {
	return k.base + ":" + shard + "}:late:" + strconv.FormatInt(start, 10)
}
func (k keySpace) updated(shard string) string  { return k.base + ":" + shard + "}:updated" }
func (k keySpace) sessions(shard string) string { return k.base + ":" + shard + "}:sessions" }
func (k keySpace) emit() string                 { return k.base + "}:emit" }

// position is a row's place in its shard: sequence number, then KPL
// sub-sequence. Sequence numbers are decimal strings of up to 128 bits:
// shorter is smaller, equal lengths compare as text.
type position struct {
	seq string
	sub int64
}

func (a position) cmp(b position) int {
	if c := flow.CompareSequence(a.seq, b.seq); c != 0 {
		return c
	}
	switch {
	case a.sub < b.sub:
		return -1
	case a.sub > b.sub:
		return 1
	}
	return 0
}

const luaPosition = `
local function cmp(s1, u1, s2, u2)
  if #s1 ~= #s2 then if #s1 < #s2 then return -1 end return 1 end
  if s1 ~= s2 then if s1 < s2 then return -1 end return 1 end
  if u1 ~= u2 then if u1 < u2 then return -1 end return 1 end
  return 0
end
`

// flushScript applies one shard flush. KEYS: mark, windows, updated (the
// shard's windows holding late updates), then per window its delta list
// and its late list. ARGV: from seq, from sub (the mark the flush was
// built on), to seq, to sub (its last row), largest event time (” if
// none), wall ms of the flush (” if it had no rows), update horizon in µs
// (” unless late rows update), the owner's reader state: seen, read,
// caught (” when the owner has none: the fields are left alone), then
// per window: start, end, delta
// (session fragments: 's', earliest fragment start + gap, fragments; their
// list is not in the window set).
//
// Answers {status, seq, sub, closed}: 'lost' (the flush began from a
// mark that is no longer there: marks are never deleted, so Redis lost its
// data — nothing written), 'applied' (the mark already covers
// the range: nothing written), 'conflict' (the mark is not where the flush
// began: rebuild from it), 'late' (a window is closed, beyond the update
// horizon if any: rebuild without its rows), 'ok' (deltas appended and the
// mark moved, in one step; deltas of closed windows within the update
// horizon go to their late lists and mark the window updated).
var flushScript = redis.NewScript(luaPosition + `
local m = redis.call('HMGET', KEYS[1], 'seq', 'sub', 'closed', 'wm')
if m[1] == false and ARGV[1] ~= '' then return {'lost', '', '0', ''} end
local seq, sub, closed = m[1] or '', tonumber(m[2] or '0'), m[3] or ''
if cmp(seq, sub, ARGV[3], tonumber(ARGV[4])) >= 0 then return {'applied', seq, tostring(sub), closed} end
if seq ~= ARGV[1] or sub ~= tonumber(ARGV[2]) then return {'conflict', seq, tostring(sub), closed} end
local n = (#KEYS - 3) / 2
local c = nil
if closed ~= '' then c = tonumber(closed) end
if c then
  for i = 1, n do
    local e = tonumber(ARGV[10 + 3*i - 1])
    if e <= c and (ARGV[7] == '' or e <= c - tonumber(ARGV[7])) then return {'late', seq, tostring(sub), closed} end
  end
end
for i = 1, n do
  local start, e, blob = ARGV[10 + 3*i - 2], tonumber(ARGV[10 + 3*i - 1]), ARGV[10 + 3*i]
  if c and e <= c then
    redis.call('RPUSH', KEYS[3 + 2*i], blob)
    redis.call('ZADD', KEYS[3], e, start)
  elseif redis.call('RPUSH', KEYS[3 + 2*i - 1], blob) == 1 and start ~= 's' then
    redis.call('ZADD', KEYS[2], e, start)
  end
end
local set = {'seq', ARGV[3], 'sub', ARGV[4]}
if ARGV[5] ~= '' and (m[4] == false or tonumber(ARGV[5]) > tonumber(m[4])) then
  set[#set + 1] = 'wm'; set[#set + 1] = ARGV[5]
end
if ARGV[6] ~= '' then set[#set + 1] = 'active'; set[#set + 1] = ARGV[6] end
if ARGV[8] ~= '' then
  set[#set + 1] = 'seen'; set[#set + 1] = ARGV[8]
  set[#set + 1] = 'read'; set[#set + 1] = ARGV[9]
  set[#set + 1] = 'caught'; set[#set + 1] = ARGV[10]
end
redis.call('HSET', KEYS[1], unpack(set))
return {'ok', ARGV[3], ARGV[4], closed}
`)

// foldScript moves the first ARGV[1] items of a window's late list (the
// updates the emitter emitted) to its delta list. KEYS: late list, delta
// list, updated, windows. ARGV: n, window start, window end.
var foldScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #items > 0 then redis.call('RPUSH', KEYS[2], unpack(items)) end
redis.call('LTRIM', KEYS[1], n, -1)
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[3], ARGV[2]) end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return #items
`)

// closeScript closes a shard's windows ending at or before ARGV[1] (the
// mark's closed never moves back) and lists those ending after ARGV[2]
// (the emitted-through bound) as {start, end, start, end, ...}.
// KEYS: mark, windows.
var closeScript = redis.NewScript(`
local c = redis.call('HGET', KEYS[1], 'closed')
if c == false or tonumber(c) < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'closed', ARGV[1])
end
return redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[2], ARGV[1], 'WITHSCORES')
`)

// hsetIfExistsScript sets fields of a hash only if it exists (KEYS: the
// hash; ARGV: field, value, ...): an owner's periodic writes to its
// shard's mark must not create one in a Redis that lost it. Answers 1, or
// 0 when the hash is gone.
var hsetIfExistsScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// lockScript takes or renews the emitter lock. KEYS: emit. ARGV: holder,
// now ms, ttl ms, the highest token the caller has seen (0: none). Answers
// {token, closing, emitted, wm} for the holder, {0, holder} otherwise, and
// {-1} without writing when the caller has seen a token but the lock is
// gone (Redis lost its data: ErrStateLost). Each new holding increments
// the token.
var lockScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'holder', 'expires', 'token', 'closing', 'emitted', 'wm')
if h[3] == false and tonumber(ARGV[4]) > 0 then return {-1, ''} end
local now = tonumber(ARGV[2])
local holder, expires, token = h[1] or '', tonumber(h[2] or '0'), tonumber(h[3] or '0')
if holder ~= ARGV[1] or expires < now then
  if holder ~= '' and holder ~= ARGV[1] and expires >= now then return {0, holder} end
  token = token + 1
end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'expires', tostring(now + tonumber(ARGV[3])), 'token', tostring(token))
return {token, h[4] or '', h[5] or '', h[6] or ''}
`)

// releaseScript lets the lock go at once if the caller holds it (a
// graceful stop), so that another task's emitter need not wait for it to
// expire. KEYS: emit. ARGV: holder.
var releaseScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'expires', '0')
  return 1
end
return 0
`)

// progressScript records emitter progress if the caller still holds the
// lock with the given token. KEYS: emit. ARGV: holder, token, now ms,
// field, value. The field never moves back. Answers 1, or 0 when fenced
// off.
var progressScript = redis.NewScript(`
local h = redis.call('HMGET', KEYS[1], 'holder', 'expires', 'token', ARGV[4])
if h[1] ~= ARGV[1] or tonumber(h[3] or '0') ~= tonumber(ARGV[2]) or tonumber(h[2] or '0') < tonumber(ARGV[3]) then
  return 0
end
if h[4] == false or tonumber(h[4]) < tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
end
return 1
`)

// flushReply is a decoded flushScript answer.
type flushReply struct {
	status string
	mark   position
	closed int64
	hasCls bool
}

func parseFlushReply(v any) (flushReply, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return flushReply{}, fmt.Errorf("window flush: unexpected reply %v", v)
	}
	var r flushReply
	r.status, _ = a[0].(string)
	r.mark.seq, _ = a[1].(string)
	sub, _ := a[2].(string)
	r.mark.sub, _ = strconv.ParseInt(sub, 10, 64)
	if c, _ := a[3].(string); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return r, fmt.Errorf("window flush: closed %q: %w", c, err)
		}
		r.closed, r.hasCls = n, true
	}
	return r, nil
}

// shardMark is a shard's mark hash as the emitter and operator read it.
type shardMark struct {
	exists   bool
	pos      position
	wm       int64 // µs
	hasWM    bool
	active   int64 // wall ms
	closed   int64
	hasCls   bool
	finished bool
	// The owner's reader state (see keySpace). A mark without seen was
	// written by a version that did not know it: idleness from active
	// alone, as before.
	seen    int64 // wall ms
	hasSeen bool
	read    int64 // wall ms; 0: no successful read since the lease began
	caught  int64 // wall ms; 0: the last read was behind (or none yet)
}

var markFields = []string{"seq", "sub", "wm", "active", "closed", "finished", "seen", "read", "caught"}

func parseMark(vals []any) shardMark {
	var m shardMark
	str := func(i int) (string, bool) { s, ok := vals[i].(string); return s, ok }
	if s, ok := str(0); ok {
		m.exists, m.pos.seq = true, s
	}
	if s, ok := str(1); ok {
		m.pos.sub, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := str(2); ok {
		m.wm, _ = strconv.ParseInt(s, 10, 64)
		m.hasWM = true
	}
	if s, ok := str(3); ok {
		m.active, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := str(4); ok {
		m.closed, _ = strconv.ParseInt(s, 10, 64)
		m.hasCls = true
	}
	if s, ok := str(5); ok && s == "1" {
		m.finished = true
	}
	if s, ok := str(6); ok {
		m.seen, _ = strconv.ParseInt(s, 10, 64)
		m.hasSeen = true
	}
	if s, ok := str(7); ok {
		m.read, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := str(8); ok {
		m.caught, _ = strconv.ParseInt(s, 10, 64)
	}
	return m
}

func readMark(ctx context.Context, c redis.UniversalClient, key string) (shardMark, error) {
	vals, err := c.HMGet(ctx, key, markFields...).Result()
	if err != nil {
		return shardMark{}, err
	}
	return parseMark(vals), nil
}

package redis

import (
	"context"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/checkpoints"
)

// The lease scripts. Each reads the shard's lease hash, decides and writes
// in one atomic step, and answers
//
//	{status, token, lease_timeout_ms, owner, successor, checkpoint, acquired_ms, load}
//
// as they are after the script (before it, when it refused). KEYS[1] is the
// lease hash and KEYS[2], when present, the application's shard set: both
// carry the application's hash tag, so a script never spans cluster slots.
// Times are Unix milliseconds computed by the caller; a lease whose
// lease_timeout_ms is below now is expired (equal is still live).

// leaseRead is the common prologue: the hash's fields and reply().
const leaseRead = `
local f = redis.call('HMGET', KEYS[1], 'owner', 'lease_timeout_ms', 'token', 'checkpoint', 'successor', 'reserved_until_ms', 'acquired_ms', 'load')
local owner = f[1] or ''
local timeout = tonumber(f[2]) or 0
local token = tonumber(f[3]) or 0
local checkpoint = f[4] or ''
local successor = f[5] or ''
local reserved = tonumber(f[6]) or 0
local acquired = tonumber(f[7]) or 0
local load = f[8] or ''
local function reply(status)
  return {status, token, timeout, owner, successor, checkpoint, acquired, load}
end
`

// fenced is the check of every write by a holder: LOST unless owner and
// token are the caller's, EXPIRED when the lease ran out. ARGV[1] worker,
// ARGV[2] held token, ARGV[3] now.
const fenced = `
local function fence()
  if owner ~= ARGV[1] or token ~= tonumber(ARGV[2]) then return 'LOST' end
  if timeout < tonumber(ARGV[3]) then return 'EXPIRED' end
  return nil
end
`

// acquireScript is Acquire. KEYS[3] is the epoch key. ARGV: shard,
// worker, now, new lease timeout, bound epoch id ("": none bound).
//
//   - STORE_LOST when an epoch is bound and the stored one is another or
//     gone (the store lost its data: nothing is written to it);
//   - ENDED when the checkpoint is SHARD_END;
//   - HELD when another worker's lease is live;
//   - RESERVED when the shard was handed over to another named successor
//     and the reservation (or the handing owner's lease) still runs;
//   - else the token grows by one (fencing off every earlier holding, this
//     worker's stale ones included), the lease starts afresh, the
//     successor is consumed; the checkpoint is never touched.
var acquireScript = goredis.NewScript(leaseRead + `
local me = ARGV[2]
local now = tonumber(ARGV[3])
if ARGV[5] ~= '' then
  local e = redis.call('GET', KEYS[3])
  if not e or string.sub(e, 1, #ARGV[5] + 1) ~= ARGV[5] .. ' ' then return reply('STORE_LOST') end
end
if checkpoint == 'SHARD_END' then return reply('ENDED') end
local live = owner ~= '' and timeout >= now
if live and owner ~= me then return reply('HELD') end
if successor ~= '' and successor ~= me and (live or reserved >= now) then return reply('RESERVED') end
token = redis.call('HINCRBY', KEYS[1], 'token', 1)
owner, timeout, acquired, successor = me, tonumber(ARGV[4]), now, ''
redis.call('HSET', KEYS[1], 'owner', me, 'lease_timeout_ms', ARGV[4], 'acquired_ms', ARGV[3])
redis.call('HDEL', KEYS[1], 'successor', 'reserved_until_ms')
redis.call('SADD', KEYS[2], ARGV[1])
return reply('OK')
`)

// renewScript is Renew for many holdings at once (KEYS: their lease
// hashes). ARGV: now, new lease timeout, then per holding worker, token,
// load ("" to keep the stored one). Answers one status per key: OK, LOST
// or EXPIRED. A renewal never moves a timeout backwards.
var renewScript = goredis.NewScript(`
local now, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local me, held, load = ARGV[3*i], tonumber(ARGV[3*i+1]), ARGV[3*i+2]
  local f = redis.call('HMGET', key, 'owner', 'token', 'lease_timeout_ms')
  local timeout = tonumber(f[3]) or 0
  if (f[1] or '') ~= me or (tonumber(f[2]) or 0) ~= held then
    out[i] = 'LOST'
  elseif timeout < now then
    out[i] = 'EXPIRED'
  else
    if exp > timeout then redis.call('HSET', key, 'lease_timeout_ms', ARGV[2]) end
    if load ~= '' then redis.call('HSET', key, 'load', load) end
    out[i] = 'OK'
  end
end
return out
`)

// checkpointScript is Checkpoint. ARGV: worker, token, now, new lease
// timeout, sequence, shard. Fenced; extends the lease (never backwards).
var checkpointScript = goredis.NewScript(leaseRead + fenced + `
local bad = fence()
if bad then return reply(bad) end
checkpoint = ARGV[5]
redis.call('HSET', KEYS[1], 'checkpoint', checkpoint)
if tonumber(ARGV[4]) > timeout then
  timeout = tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'lease_timeout_ms', ARGV[4])
end
redis.call('SADD', KEYS[2], ARGV[6])
return reply('OK')
`)

// handoffScript is Handoff. ARGV: worker, token, now, successor. Fenced.
var handoffScript = goredis.NewScript(leaseRead + fenced + `
local bad = fence()
if bad then return reply(bad) end
successor = ARGV[4]
redis.call('HSET', KEYS[1], 'successor', successor)
return reply('OK')
`)

// releaseScript is Release. ARGV: worker, token, successor ("" for none),
// reserved until (ms). Only owner and token are checked: an expired lease
// that nobody took since is still the caller's to free.
var releaseScript = goredis.NewScript(leaseRead + `
if owner ~= ARGV[1] or token ~= tonumber(ARGV[2]) then return reply('LOST') end
redis.call('HDEL', KEYS[1], 'owner')
owner = ''
successor = ARGV[3]
if successor ~= '' then
  redis.call('HSET', KEYS[1], 'successor', successor, 'reserved_until_ms', ARGV[4])
else
  redis.call('HDEL', KEYS[1], 'successor', 'reserved_until_ms')
end
return reply('OK')
`)

// removeScript is Remove: the shard left the stream, so its hash and its
// set entry go, unconditionally. ARGV: shard id.
var removeScript = goredis.NewScript(leaseRead + `
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return reply('OK')
`)

// bindScript is Bind. KEYS[1]: the epoch key. ARGV: the epoch to write
// when there is none. Answers the stored epoch.
var bindScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`)

// heartbeatScript is Heartbeat. KEYS[1]: the worker hash. ARGV: worker,
// value, forget-before (ms): entries that expired before it are deleted.
var heartbeatScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local before = tonumber(ARGV[3])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i+1], '^(%d+)')) or 0
  if exp < before then redis.call('HDEL', KEYS[1], all[i]) end
end
return 1
`)

// reply is a lease script's answer.
type reply struct {
	status     string
	token      int64
	timeoutMs  int64
	owner      string
	successor  string
	checkpoint string
	acquiredMs int64
	load       string
}

func (r reply) lease(shard string) checkpoints.Lease {
	l := checkpoints.Lease{Shard: shard, Owner: r.owner, Expires: msTime(r.timeoutMs), Token: r.token,
		Checkpoint: r.checkpoint, Successor: r.successor, Acquired: msTime(r.acquiredMs)}
	if r.load != "" {
		l.Load, _ = strconv.ParseFloat(r.load, 64) // written by Renew from a float
	}
	return l
}

// run runs a lease script (EVALSHA, EVAL when Redis does not know it) and
// decodes its reply.
func (s *Store) run(ctx context.Context, script *goredis.Script, keys []string, args ...any) (reply, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	v, err := script.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		return reply{}, err
	}
	if len(v) != 8 {
		return reply{}, fmt.Errorf("unexpected script reply %v", v)
	}
	var r reply
	var ok [8]bool
	r.status, ok[0] = v[0].(string)
	r.token, ok[1] = v[1].(int64)
	r.timeoutMs, ok[2] = v[2].(int64)
	r.owner, ok[3] = v[3].(string)
	r.successor, ok[4] = v[4].(string)
	r.checkpoint, ok[5] = v[5].(string)
	r.acquiredMs, ok[6] = v[6].(int64)
	r.load, ok[7] = v[7].(string)
	for _, good := range ok {
		if !good {
			return reply{}, fmt.Errorf("unexpected script reply %v", v)
		}
	}
	return r, nil
}

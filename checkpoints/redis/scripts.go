package redis

import (
	"context"
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// The scripts. Each one reads the shard's lease hash, decides and writes in
// one atomic step, and answers
//
//	{status, token, lease_timeout_ms, owner, claim_request, checkpoint}
//
// as they are after the script (before it, when it refused). KEYS[1] is the
// lease hash and KEYS[2], when present, the application's shard set: both
// carry the application's hash tag, so a script never spans cluster slots.
// Times are Unix milliseconds computed by the caller; a lease whose
// lease_timeout_ms is below now is expired (equal is still live).

// leaseRead is the common prologue: the hash's fields and reply().
const leaseRead = `
local f = redis.call('HMGET', KEYS[1], 'owner', 'lease_timeout_ms', 'token', 'claim_request', 'checkpoint')
local owner = f[1] or ''
local timeout = tonumber(f[2]) or 0
local token = tonumber(f[3]) or 0
local claim = f[4] or ''
local checkpoint = f[5] or ''
local function reply(status)
  return {status, token, timeout, owner, claim, checkpoint}
end
`

// acquireScript is GetLease.
// ARGV: shard id, worker, held token (0: not held, an acquisition), now,
// new lease timeout, parent shard id, lease stealing ("1"/"0"), claim
// timeout ms.
//
//   - A renewal (held token > 0) needs owner = worker, token = held token
//     and a live lease (else LOST / EXPIRED), and no binding claim by another
//     worker (else CLAIMED: the holder is asked to hand the shard over).
//   - An acquisition needs no binding claim by another worker (CLAIMED) and
//     the lease free, expired or owned by the caller (else HELD); it
//     increments the token, so every earlier holding is fenced off.
//   - A claim binds only with lease stealing on, and only until the lease
//     has been expired for longer than the claim timeout (the KCL's
//     ShardStatus.IsClaimRequestExpired).
//   - On success: owner, lease timeout (a renewal never moves it backwards)
//     and shard set are written, the claim is consumed, the parent is written if absent.
//     The checkpoint is never touched.
var acquireScript = goredis.NewScript(leaseRead + `
local me = ARGV[2]
local held = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local claimed = ARGV[7] == '1' and claim ~= '' and claim ~= me
  and not (timeout > 0 and timeout < now - tonumber(ARGV[8]))
if held > 0 then
  if owner ~= me or token ~= held then return reply('LOST') end
  if timeout < now then return reply('EXPIRED') end
  if claimed then return reply('CLAIMED') end
else
  if claimed then return reply('CLAIMED') end
  if owner ~= '' and owner ~= me and timeout >= now then return reply('HELD') end
  token = redis.call('HINCRBY', KEYS[1], 'token', 1)
end
owner = me
redis.call('HSET', KEYS[1], 'owner', me)
-- A renewal never moves the timeout backwards (a clock step); an
-- acquisition starts the lease afresh.
if held == 0 or tonumber(ARGV[5]) > timeout then
  timeout = tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'lease_timeout_ms', ARGV[5])
end
if claim ~= '' then
  redis.call('HDEL', KEYS[1], 'claim_request')
  claim = ''
end
if ARGV[6] ~= '' then redis.call('HSETNX', KEYS[1], 'parent', ARGV[6]) end
redis.call('SADD', KEYS[2], ARGV[1])
return reply('OK')
`)

// checkpointScript is CheckpointSequence: a compare-and-set on (owner,
// token, live lease).
// ARGV: shard id, worker, held token, now, new lease timeout, checkpoint,
// parent shard id, lease stealing ("1"/"0").
//
// A success also extends the lease (a checkpoint is proof of life) unless
// another worker's claim is pending: a holder asked to hand over must not
// keep the lease alive by checkpointing.
var checkpointScript = goredis.NewScript(leaseRead + `
local me = ARGV[2]
if owner ~= me or token ~= tonumber(ARGV[3]) then return reply('LOST') end
if timeout < tonumber(ARGV[4]) then return reply('EXPIRED') end
checkpoint = ARGV[6]
redis.call('HSET', KEYS[1], 'checkpoint', checkpoint)
if not (ARGV[8] == '1' and claim ~= '' and claim ~= me) then
  if tonumber(ARGV[5]) > timeout then
    timeout = tonumber(ARGV[5])
    redis.call('HSET', KEYS[1], 'lease_timeout_ms', ARGV[5])
  end
end
if ARGV[7] ~= '' then redis.call('HSETNX', KEYS[1], 'parent', ARGV[7]) end
redis.call('SADD', KEYS[2], ARGV[1])
return reply('OK')
`)

// releaseScript is RemoveLeaseOwner: it clears the owner only for the
// holder of the current token (LOST otherwise), so a late release can never
// free a lease someone else took. The lease timeout and a pending claim stay:
// the claimant (if any) takes the shard next.
// ARGV: worker, held token.
var releaseScript = goredis.NewScript(leaseRead + `
if owner ~= ARGV[1] or token ~= tonumber(ARGV[2]) then return reply('LOST') end
redis.call('HDEL', KEYS[1], 'owner')
owner = ''
return reply('OK')
`)

// claimScript is ClaimShard: it records a steal request only if the shard
// exists (GONE), still has the owner the claimant saw (FREE when it has none,
// OWNER_CHANGED), is not the claimant's own (OWNER), has not ended (ENDED),
// and no other binding claim is pending (CLAIMED). Re-claiming one's own
// claim succeeds.
// ARGV: claimant, owner the claimant saw, now, claim timeout ms.
var claimScript = goredis.NewScript(leaseRead + `
if redis.call('EXISTS', KEYS[1]) == 0 then return reply('GONE') end
if owner == '' then return reply('FREE') end
if owner ~= ARGV[2] then return reply('OWNER_CHANGED') end
if owner == ARGV[1] then return reply('OWNER') end
if checkpoint == 'SHARD_END' then return reply('ENDED') end
if claim ~= '' and claim ~= ARGV[1]
  and not (timeout > 0 and timeout < tonumber(ARGV[3]) - tonumber(ARGV[4])) then
  return reply('CLAIMED')
end
claim = ARGV[1]
redis.call('HSET', KEYS[1], 'claim_request', claim)
return reply('OK')
`)

// removeScript is RemoveLeaseInfo: the shard is gone from the stream, so its
// hash and its set entry go, unconditionally. ARGV: shard id.
var removeScript = goredis.NewScript(leaseRead + `
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return reply('OK')
`)

// reply is a script's answer.
type reply struct {
	status     string
	token      int64
	timeoutMs  int64
	owner      string
	claim      string
	checkpoint string
}

// run runs script (EVALSHA, EVAL when Redis does not know it) and decodes
// its reply.
func (c *checkpointer) run(s *goredis.Script, keys []string, args ...any) (reply, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	return runScript(ctx, c.client, s, keys, args...)
}

func runScript(ctx context.Context, client goredis.Scripter, s *goredis.Script, keys []string, args ...any) (reply, error) {
	v, err := s.Run(ctx, client, keys, args...).Slice()
	if err != nil {
		return reply{}, err
	}
	if len(v) != 6 {
		return reply{}, fmt.Errorf("unexpected script reply %v", v)
	}
	var r reply
	var ok [6]bool
	r.status, ok[0] = v[0].(string)
	r.token, ok[1] = v[1].(int64)
	r.timeoutMs, ok[2] = v[2].(int64)
	r.owner, ok[3] = v[3].(string)
	r.claim, ok[4] = v[4].(string)
	r.checkpoint, ok[5] = v[5].(string)
	for _, good := range ok {
		if !good {
			return reply{}, fmt.Errorf("unexpected script reply %v", v)
		}
	}
	return r, nil
}

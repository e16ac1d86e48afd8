package checkpointadmin

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// RedisStore is the layout of checkpoints/redis: one hash per shard under
// the application's hash tag, and a set of the shards that have one.
type RedisStore struct {
	client goredis.UniversalClient
	base   string // "<prefix>:{<app>}:"
}

// NewRedisStore reads the keys of application app under prefix (the
// pipeline's redis.key_prefix and name).
func NewRedisStore(client goredis.UniversalClient, prefix, app string) *RedisStore {
	if prefix == "" {
		prefix = "sf"
	}
	return &RedisStore{client: client, base: prefix + ":{" + app + "}:"}
}

func (s *RedisStore) Kind() string                 { return "redis" }
func (s *RedisStore) Where() string                { return s.base + "lease:<shard>" }
func (s *RedisStore) leaseKey(shard string) string { return s.base + "lease:" + shard }
func (s *RedisStore) shardsKey() string            { return s.base + "shards" }
func (s *RedisStore) keys(shard string) []string   { return []string{s.leaseKey(shard), s.shardsKey()} }

// List reads the shard set and every shard's hash in one pipeline.
func (s *RedisStore) List(ctx context.Context) ([]Lease, error) {
	shards, err := s.client.SMembers(ctx, s.shardsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("checkpoints: redis: read %s: %w", s.shardsKey(), err)
	}
	sort.Strings(shards)
	pipe := s.client.Pipeline()
	cmds := make([]*goredis.SliceCmd, len(shards))
	for i, sh := range shards {
		cmds[i] = pipe.HMGet(ctx, s.leaseKey(sh), "owner", "lease_timeout_ms", "checkpoint", "parent")
	}
	if len(shards) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("checkpoints: redis: read leases under %s: %w", s.base, err)
		}
	}
	out := make([]Lease, 0, len(shards))
	for i, sh := range shards {
		v := cmds[i].Val()
		str := func(j int) string { x, _ := v[j].(string); return x }
		l := Lease{Shard: sh, Owner: str(0), Checkpoint: str(2), Parent: str(3)}
		ms, _ := strconv.ParseInt(str(1), 10, 64)
		if ms > 0 {
			l.Expires = time.UnixMilli(ms)
		}
		out = append(out, l)
	}
	return out, nil
}

// setScript writes the checkpoint when owner and lease timeout are as read
// (CHANGED otherwise) and the lease is not live (LIVE) unless revoking;
// revoking increments the fencing token and removes the owner, which is
// exactly what makes the store refuse the holder's next renewal and
// checkpoint (checkpoints/redis: "acquisition by a new holder increments
// the token").
// KEYS: lease hash, shard set. ARGV: shard, checkpoint, now ms, revoke
// ("1"/"0"), owner as read, lease timeout ms as read.
var setScript = goredis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'owner', 'lease_timeout_ms')
local owner = f[1] or ''
local timeout = tonumber(f[2]) or 0
if owner ~= ARGV[5] or timeout ~= tonumber(ARGV[6]) then return 'CHANGED' end
if owner ~= '' and timeout >= tonumber(ARGV[3]) then
  if ARGV[4] ~= '1' then return 'LIVE' end
  redis.call('HINCRBY', KEYS[1], 'token', 1)
  redis.call('HDEL', KEYS[1], 'owner')
end
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 'OK'
`)

// SetCheckpoint: see Store. A shard without a hash yet (never leased) gets
// one holding only the checkpoint.
func (s *RedisStore) SetCheckpoint(ctx context.Context, seen Lease, checkpoint string, revoke bool, now time.Time) error {
	var timeoutMs int64
	if !seen.Expires.IsZero() {
		timeoutMs = seen.Expires.UnixMilli()
	}
	res, err := setScript.Run(ctx, s.client, s.keys(seen.Shard),
		seen.Shard, checkpoint, now.UnixMilli(), boolArg(revoke), seen.Owner, timeoutMs).Text()
	if err != nil {
		return &ShardError{seen.Shard, fmt.Errorf("checkpoints: redis: write %s: %w", s.leaseKey(seen.Shard), err)}
	}
	switch res {
	case "OK":
		return nil
	case "LIVE":
		return &ShardError{seen.Shard, fmt.Errorf("%w (owner %s)", ErrLeaseLive, seen.Owner)}
	case "CHANGED":
		return &ShardError{seen.Shard, ErrLeaseChanged}
	}
	return &ShardError{seen.Shard, fmt.Errorf("checkpoints: redis: unexpected reply %q", res)}
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

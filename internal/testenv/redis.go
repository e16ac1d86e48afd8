package testenv

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// Redis returns a client for the local Redis (closed at cleanup) and a key
// prefix unique to this test, such as "sftest:TestFoo-3fa2b1c0:". Use only
// keys under the prefix: at cleanup every key under it is deleted (SCAN +
// DEL), so tests can share one Redis and run in parallel. The prefix has no
// hash tag: add one after it where a script touches several keys (e.g.
// prefix+"{pipe}:a" and prefix+"{pipe}:b").
func (e *Env) Redis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	mustAnswer(tb, "Redis", "SHARDFLOW_REDIS_URL", e.RedisURL)
	opts, err := redis.ParseURL(e.RedisURL)
	if err != nil {
		tb.Fatalf("testenv: SHARDFLOW_REDIS_URL=%q: %v", e.RedisURL, err)
	}
	client := redis.NewClient(opts)
	tb.Cleanup(func() { _ = client.Close() }) // runs last: cleanups are LIFO

	ctx, cancel := cleanupContext()
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testenv: Redis at %s (SHARDFLOW_REDIS_URL) does not answer PING: %v; %s", e.RedisURL, err, Hint)
	}

	prefix := "sftest:" + UniqueName(tb, "") + ":"
	tb.Cleanup(func() {
		if n, err := deleteKeys(client, prefix); err != nil {
			tb.Errorf("testenv: deleting Redis keys %s* (%d deleted): %v", prefix, n, err)
		}
	})
	return client, prefix
}

// deleteKeys deletes every key that starts with prefix (which must hold no
// glob characters) and returns how many it deleted.
func deleteKeys(client *redis.Client, prefix string) (int64, error) {
	ctx, cancel := cleanupContext()
	defer cancel()
	var deleted int64
	var cursor uint64
	for {
		keys, next, err := client.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return deleted, err
		}
		if len(keys) > 0 {
			n, err := client.Del(ctx, keys...).Result()
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
		if next == 0 {
			return deleted, nil
		}
		cursor = next
	}
}

// CleanupRedisKeys deletes, when the test ends, every key that starts with
// prefix: for key prefixes a config sets (they cannot hold the ':' of the
// prefixes Redis hands out).
func CleanupRedisKeys(tb testing.TB, client *redis.Client, prefix string) {
	tb.Cleanup(func() {
		if n, err := deleteKeys(client, prefix); err != nil {
			tb.Errorf("testenv: deleting Redis keys %s* (%d deleted): %v", prefix, n, err)
		}
	})
}

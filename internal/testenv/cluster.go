package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisCluster returns a client for the local Redis Cluster
// (SHARDFLOW_REDIS_CLUSTER_ADDRS, started by deploy/local/up: 3 primaries,
// 3 replicas), closed at cleanup, and a key prefix unique to this test,
// like Redis's. Every key under the prefix is deleted at cleanup, on every
// primary. A script whose keys are not in one slot fails with CROSSSLOT,
// so a test that runs the product against this client asserts that its
// multi-key scripts keep their keys together.
func (e *Env) RedisCluster(tb testing.TB) (*redis.ClusterClient, string) {
	tb.Helper()
	addrs := e.RedisClusterAddrs()
	if len(addrs) == 0 {
		tb.Fatalf("testenv: SHARDFLOW_REDIS_CLUSTER_ADDRS not set (deploy/local/up starts a local cluster unless SHARDFLOW_LOCAL_REDIS_CLUSTER=0); %s", Hint)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = client.Close() })
	ctx, cancel := cleanupContext()
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("testenv: Redis Cluster at %s does not answer PING: %v; %s", e.redisClusterAddrs, err, Hint)
	}
	info, err := client.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		tb.Fatalf("testenv: Redis Cluster at %s is not ok (%v): %s; %s", e.redisClusterAddrs, err, info, Hint)
	}
	prefix := "sftest:" + UniqueName(tb, "") + ":"
	tb.Cleanup(func() {
		if err := deleteClusterKeys(client, prefix); err != nil {
			tb.Errorf("testenv: deleting cluster keys %s*: %v", prefix, err)
		}
	})
	return client, prefix
}

// CleanupClusterKeys deletes, when the test ends, every key under prefix
// on every primary of the cluster: for key prefixes a config sets.
func CleanupClusterKeys(tb testing.TB, client *redis.ClusterClient, prefix string) {
	tb.Cleanup(func() {
		if err := deleteClusterKeys(client, prefix); err != nil {
			tb.Errorf("testenv: deleting cluster keys %s*: %v", prefix, err)
		}
	})
}

// DeleteRedisKeys deletes every key under prefix now, on a single node or
// on every primary of a cluster: for a test that empties a store on
// purpose.
func DeleteRedisKeys(tb testing.TB, client redis.UniversalClient, prefix string) {
	tb.Helper()
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = deleteClusterKeys(c, prefix)
	case *redis.Client:
		_, err = deleteKeys(c, prefix)
	default:
		err = fmt.Errorf("client of type %T", client)
	}
	if err != nil {
		tb.Fatalf("testenv: deleting Redis keys %s*: %v", prefix, err)
	}
}

// RedisClusterAddrs is SHARDFLOW_REDIS_CLUSTER_ADDRS split at commas
// (nil when not set).
func (e *Env) RedisClusterAddrs() []string {
	if e.redisClusterAddrs == "" {
		return nil
	}
	return strings.Split(e.redisClusterAddrs, ",")
}

// deleteClusterKeys deletes every key under prefix on every primary, one
// key per DEL (keys of different slots cannot share a command).
func deleteClusterKeys(client *redis.ClusterClient, prefix string) error {
	ctx, cancel := cleanupContext()
	defer cancel()
	return client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, prefix+"*", 1000).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				pipe := node.Pipeline()
				for _, k := range keys {
					pipe.Del(ctx, k)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}

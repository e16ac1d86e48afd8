package redis

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/checkpoints/storetest"
	"github.com/shardflow/shardflow/internal/testenv"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) checkpoints.Store {
		s, _, _ := newTestStore(t)
		return s
	})
}

func TestStoreEpochContract(t *testing.T) {
	storetest.RunEpoch(t, func(t *testing.T) storetest.Space {
		client, prefix := testenv.Load(t).Redis(t)
		return epochSpace(t, client, prefix)
	})
}

// epochSpace opens stores of one application under prefix and empties
// them by deleting every key under it.
func epochSpace(t *testing.T, client goredis.UniversalClient, prefix string) storetest.Space {
	return storetest.Space{
		Open:  func() checkpoints.Store { return mustNew(t, client, prefix) },
		Empty: func() { testenv.DeleteRedisKeys(t, client, prefix) },
	}
}

func mustNew(t testing.TB, client goredis.UniversalClient, prefix string) *Store {
	t.Helper()
	s, err := New(client, Options{Prefix: prefix, Application: "clicks"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestStore(t testing.TB) (*Store, *goredis.Client, string) {
	t.Helper()
	client, prefix := testenv.Load(t).Redis(t)
	return mustNew(t, client, prefix), client, prefix
}

func TestNewValidates(t *testing.T) {
	client, _ := testenv.Load(t).Redis(t)
	for _, o := range []Options{{}, {Application: "a{b}"}, {Application: "a", Prefix: "x{"}} {
		if _, err := New(client, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := New(nil, Options{Application: "a"}); err == nil {
		t.Error("New without a client accepted")
	}
}

// TestKeysShareOneSlot drives every method, then checks that every key the
// store created carries the application's hash tag and maps to one cluster
// slot: ElastiCache cluster mode rejects scripts whose keys span slots.
func TestKeysShareOneSlot(t *testing.T) {
	s, client, prefix := newTestStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.Heartbeat(ctx, checkpoints.Worker{ID: "A", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var held []checkpoints.Holding
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
		l, err := s.Acquire(ctx, id, "A", now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h := checkpoints.Holding{Shard: id, Worker: "A", Token: l.Token}
		held = append(held, h)
		if err := s.Checkpoint(ctx, h, "4959033827149025660855969253836157109592157598913658889", now, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if errs := s.Renew(ctx, held, []float64{10, 20}, now, time.Minute); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if err := s.Handoff(ctx, held[0], "B", now); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, held[0], "B", now, time.Second); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 { // two leases, the shard set, the worker hash
		t.Fatalf("keys = %v, want 2 lease hashes, the shard set and the worker hash", keys)
	}
	want := keySlot(s.shardsKey())
	for _, k := range keys {
		if !strings.HasPrefix(k, strings.TrimSuffix(prefix, ":")+":{clicks}:") {
			t.Errorf("key %q does not start with the prefix and the {clicks} tag", k)
		}
		if got := keySlot(k); got != want {
			t.Errorf("key %q in slot %d, the shard set in %d", k, got, want)
		}
	}
}

func TestKeySlotMatchesRedis(t *testing.T) {
	// Vectors from the Redis cluster specification.
	if got := crc16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16 = %#x, want 0x31c3", got)
	}
	for key, want := range map[string]uint16{"foo": 12182, "bar": 5061, "{user1000}.following": keySlot("user1000"), "a{}b": keySlot("a{}b")} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// keySlot is the Redis Cluster slot of key (the hash tag rule included).
func keySlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16([]byte(key)) % 16384
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster uses for slots.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// TestOneRoundTripPerCall: every method is one script call, one command or
// one pipeline once Redis has the scripts cached, whatever the number of
// shards: coordination costs O(1) round trips per cycle.
func TestOneRoundTripPerCall(t *testing.T) {
	s, client, _ := newTestStore(t)
	rt := &roundTrips{}
	client.AddHook(rt)
	ctx := context.Background()
	now := time.Now()
	shards := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}
	var held []checkpoints.Holding
	for _, id := range shards[1:] {
		l, err := s.Acquire(ctx, id, "A", now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, checkpoints.Holding{Shard: id, Worker: "A", Token: l.Token})
	}
	var h0 checkpoints.Holding
	calls := []struct {
		name string
		call func() error
	}{
		{"Heartbeat", func() error { return s.Heartbeat(ctx, checkpoints.Worker{ID: "A", Expires: now.Add(time.Minute)}) }},
		{"View (8 shards)", func() error { _, err := s.View(ctx, shards, now); return err }},
		{"Acquire", func() error {
			l, err := s.Acquire(ctx, "s0", "A", now, time.Minute)
			h0 = checkpoints.Holding{Shard: "s0", Worker: "A", Token: l.Token}
			return err
		}},
		{"Renew (7 holdings)", func() error { return firstErr(s.Renew(ctx, held, nil, now, time.Minute)) }},
		{"Checkpoint", func() error { return s.Checkpoint(ctx, h0, "100", now, time.Minute) }},
		{"Handoff", func() error { return s.Handoff(ctx, h0, "B", now) }},
		{"Release", func() error { return s.Release(ctx, h0, "", now, 0) }},
		{"Remove", func() error { return s.Remove(ctx, "s0") }},
	}
	// Warm the script cache (the first EVALSHA of a script Redis has not
	// seen costs a second trip for the EVAL fallback).
	for _, c := range calls {
		_ = c.call()
	}
	for _, c := range calls {
		before := rt.n.Load()
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := rt.n.Load() - before; n != 1 {
			t.Errorf("%s: %d round trips, want 1", c.name, n)
		}
	}
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestScriptsReloadAfterFlush: a Redis that lost its script cache (restart,
// failover, SCRIPT FLUSH) still answers every call.
func TestScriptsReloadAfterFlush(t *testing.T) {
	s, client, _ := newTestStore(t)
	ctx := context.Background()
	now := time.Now()
	l, err := s.Acquire(ctx, "s0", "A", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	h := checkpoints.Holding{Shard: "s0", Worker: "A", Token: l.Token}
	if errs := s.Renew(ctx, []checkpoints.Holding{h}, nil, now, time.Minute); errs[0] != nil {
		t.Fatalf("renew after SCRIPT FLUSH: %v", errs[0])
	}
	if err := s.Checkpoint(ctx, h, "100", now, time.Minute); err != nil {
		t.Fatalf("checkpoint after SCRIPT FLUSH: %v", err)
	}
}

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// The store contract against the local Redis Cluster (3 primaries): every
// script runs on a cluster client, so a key outside the application's slot
// fails the contract with CROSSSLOT.
func TestStoreContractOnCluster(t *testing.T) {
	storetest.Run(t, func(t *testing.T) checkpoints.Store {
		client, prefix := testenv.Load(t).RedisCluster(t)
		return mustNew(t, client, prefix)
	})
	storetest.RunEpoch(t, func(t *testing.T) storetest.Space {
		client, prefix := testenv.Load(t).RedisCluster(t)
		return epochSpace(t, client, prefix)
	})
}

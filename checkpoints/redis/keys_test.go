package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

func TestParentShardPersisted(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")

	// The KCL's waitOnParentShard compares with ==: the sentinel itself.
	if err := a.FetchCheckpoint(newShard("parent-0", "")); err != chk.ErrSequenceIDNotFound {
		t.Fatalf("FetchCheckpoint of an unknown shard = %v, want chk.ErrSequenceIDNotFound itself", err)
	}

	child := newShard("child-1", "parent-0")
	mustLease(t, a, child)
	if got := f.field(a, "child-1", "parent"); got != "parent-0" {
		t.Fatalf("stored parent = %q, want parent-0", got)
	}
	// Leased but never checkpointed: still "not found", parent filled in.
	s := newShard("child-1", "")
	if err := b.FetchCheckpoint(s); err != chk.ErrSequenceIDNotFound {
		t.Fatalf("FetchCheckpoint before any checkpoint = %v, want chk.ErrSequenceIDNotFound", err)
	}
	if s.ParentShardId != "parent-0" || s.GetLeaseOwner() != "A" {
		t.Fatalf("FetchCheckpoint: parent %q owner %q, want parent-0 and A", s.ParentShardId, s.GetLeaseOwner())
	}

	// First write wins.
	f.clock.Advance(f.lease + time.Millisecond)
	mustLease(t, b, newShard("child-1", "other"))
	if got := f.field(a, "child-1", "parent"); got != "parent-0" {
		t.Fatalf("stored parent = %q after a conflicting write, want parent-0", got)
	}

	// The parent reaches SHARD_END: the child may start.
	parent := newShard("parent-0", "")
	mustLease(t, a, parent)
	mustCheckpoint(t, a, parent, chk.ShardEnd)
	p := newShard("parent-0", "")
	if err := b.FetchCheckpoint(p); err != nil || p.GetCheckpoint() != chk.ShardEnd {
		t.Fatalf("parent checkpoint = %q, %v; want SHARD_END", p.GetCheckpoint(), err)
	}

	// ListActiveWorkers fills parents in as well.
	v := map[string]*par.ShardStatus{"child-1": newShard("child-1", "")}
	if _, err := a.ListActiveWorkers(v); err != nil {
		t.Fatalf("ListActiveWorkers: %v", err)
	}
	if v["child-1"].ParentShardId != "parent-0" {
		t.Fatalf("ListActiveWorkers left parent %q", v["child-1"].ParentShardId)
	}
}

func TestRemoveLeaseInfo(t *testing.T) {
	f := newFixture(t)
	a := f.worker("A")
	s := newShard("shard-0", "")
	mustLease(t, a, s)
	mustCheckpoint(t, a, s, "100")
	if err := a.RemoveLeaseInfo("shard-0"); err != nil {
		t.Fatalf("RemoveLeaseInfo: %v", err)
	}
	ctx := context.Background()
	if n, _ := f.client.Exists(ctx, a.leaseKey("shard-0")).Result(); n != 0 {
		t.Fatal("lease hash survived RemoveLeaseInfo")
	}
	if ok, _ := f.client.SIsMember(ctx, a.shardsKey(), "shard-0").Result(); ok {
		t.Fatal("shard id survived in the shard set")
	}
	if err := a.FetchCheckpoint(newShard("shard-0", "")); err != chk.ErrSequenceIDNotFound {
		t.Fatalf("FetchCheckpoint after removal = %v", err)
	}
	if err := a.CheckpointSequence(s); err == nil {
		t.Fatal("checkpoint of a removed shard succeeded")
	}
}

// TestKeysShareOneSlot drives every method, then checks that every key the
// store created carries the application's hash tag and maps to one cluster
// slot: ElastiCache cluster mode rejects scripts whose keys span slots.
func TestKeysShareOneSlot(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A", stealing), f.worker("B", stealing)
	shards := map[string]*par.ShardStatus{}
	for _, id := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"} {
		shards[id] = newShard(id, "shardId-parent")
		mustLease(t, a, shards[id])
		mustCheckpoint(t, a, shards[id], "49590338271490256608559692538361571095921575989136588898")
	}
	if err := b.ClaimShard(newShardOwnedBy("shardId-000000000000", "A"), "B"); err != nil {
		t.Fatalf("ClaimShard: %v", err)
	}
	if _, err := b.ListActiveWorkers(shards); err != nil {
		t.Fatalf("ListActiveWorkers: %v", err)
	}
	if err := a.RemoveLeaseOwner("shardId-000000000001"); err != nil {
		t.Fatalf("RemoveLeaseOwner: %v", err)
	}

	keys, err := f.client.Keys(context.Background(), f.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 { // three leases and the shard set
		t.Fatalf("keys = %v, want 3 lease hashes and the shard set", keys)
	}
	want := keySlot(a.shardsKey())
	for _, k := range keys {
		if !strings.HasPrefix(k, f.prefix+"{"+testApp+"}:") {
			t.Errorf("key %q does not start with the prefix and the {%s} tag", k, testApp)
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

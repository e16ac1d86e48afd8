package redis

import (
	"strconv"
	"testing"

	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestOneRoundTripPerCall: every method is one script call, one command or
// one pipeline (once Redis has the scripts cached).
func TestOneRoundTripPerCall(t *testing.T) {
	f := newFixture(t)
	rt := &roundTrips{}
	f.client.AddHook(rt)
	a, b := f.worker("A", stealing), f.worker("B", stealing)
	s := newShard("shard-0", "")
	view := map[string]*par.ShardStatus{"shard-0": newShard("shard-0", ""), "shard-1": newShard("shard-1", "")}
	mustLease(t, a, newShard("shard-1", ""))

	calls := []struct {
		name string
		call func() error
	}{
		{"GetLease (acquire)", func() error { return a.GetLease(s, "A") }},
		{"GetLease (renew)", func() error { return a.GetLease(s, "A") }},
		{"CheckpointSequence", func() error { s.SetCheckpoint("100"); return a.CheckpointSequence(s) }},
		{"FetchCheckpoint", func() error { return b.FetchCheckpoint(newShard("shard-0", "")) }},
		{"GetLeaseOwner", func() error { _, err := b.GetLeaseOwner("shard-0"); return err }},
		{"ListActiveWorkers", func() error { _, err := b.ListActiveWorkers(view); return err }},
		{"ClaimShard", func() error { return b.ClaimShard(newShardOwnedBy("shard-0", "A"), "B") }},
		{"RemoveLeaseOwner", func() error { return a.RemoveLeaseOwner("shard-0") }},
		{"RemoveLeaseInfo", func() error { return a.RemoveLeaseInfo("shard-0") }},
	}
	// Warm the script cache (the first EVALSHA of a script Redis has not
	// seen costs a second trip for the EVAL fallback).
	for range 2 {
		for _, c := range calls {
			_ = c.call()
		}
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

// BenchmarkCheckpointSequence measures one fenced checkpoint write against
// the local redis-server; roundtrips/op must stay 1.
func BenchmarkCheckpointSequence(b *testing.B) {
	client, prefix := testenv.Load(b).Redis(b)
	rt := &roundTrips{}
	client.AddHook(rt)
	s := New(client, Options{Prefix: prefix, Application: testApp})
	c := s.checkpointer(kcl("A"))
	shard := newShard("shard-0", "")
	if err := c.GetLease(shard, "A"); err != nil {
		b.Fatal(err)
	}
	before, calls := rt.n.Load(), 0
	b.ReportAllocs()
	for b.Loop() {
		calls++
		shard.SetCheckpoint(strconv.Itoa(calls))
		if err := c.CheckpointSequence(shard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt.n.Load()-before)/float64(calls), "roundtrips/op")
}

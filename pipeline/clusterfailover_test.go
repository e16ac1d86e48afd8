package pipeline_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// TestPipelineThroughClusterFailovers runs a pipeline whose Redis is a
// cluster of its own (3 primaries, 3 replicas) while events are put at a
// steady rate, and during the traffic (1) fails the primary that holds the
// pipeline's leases over to its replica with CLUSTER FAILOVER, (2)
// migrates that slot to another primary key by key (MIGRATE; clients get
// ASK and TRYAGAIN meanwhile), then (3) kills the slot's primary with
// SIGKILL (its replica is promoted after cluster-node-timeout) and starts
// it again (it rejoins as a replica). The client follows MOVED and the new topology; every event is
// delivered, duplicates only from what was read after the last checkpoint
// that survived; the worker holds every shard again and is ready.
func TestPipelineThroughClusterFailovers(t *testing.T) {
	const shards, events, rate = 4, 12000, 600.0
	pc := testenv.StartPrivateCluster(t)
	s := newStack(t, shards)
	cfg := s.config(t)
	cfg.Redis.URL = ""
	cfg.Redis.ClusterAddrs = pc.Addrs()

	putDone, want := putAtRate(t, s, workload.Config{Seed: 17, Total: events}, rate)

	p, stop := runPipeline(t, cfg, "w1")
	defer stop()
	tag := "{" + s.name + "}" // the lease store's hash tag: one slot
	s.waitDelivered(t, events/4, 60*time.Second)

	// (1) graceful failover of the lease slot's primary.
	old := pc.PrimaryOf(tag)
	rep := pc.ReplicaOf(old)
	at := time.Now()
	pc.Failover(rep)
	t.Logf("CLUSTER FAILOVER %s → %s in %s: %s", old.Addr(), rep.Addr(), time.Since(at).Round(time.Millisecond), pc)
	s.waitDelivered(t, events/2, 60*time.Second)

	// (2) the lease slot migrates to another primary, key by key.
	at = time.Now()
	moved := pc.MigrateSlot(tag, pc.OtherPrimary(tag))
	t.Logf("slot of %s migrated (%d keys) in %s: %s", tag, moved, time.Since(at).Round(time.Millisecond), pc)
	s.waitDelivered(t, events*2/3, 60*time.Second)

	// (3) SIGKILL of the slot's primary (the one just promoted).
	victim := pc.PrimaryOf(tag)
	pc.Kill(victim)
	promoted := pc.WaitPromoted(victim, tag, 30*time.Second)
	t.Logf("SIGKILL %s: replica promoted, slot served again after %s: %s", victim.Addr(), promoted.Round(time.Millisecond), pc)
	pc.Start(victim) // rejoins as a replica
	pc.WaitOK(30 * time.Second)

	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	res := s.waitDelivered(t, events, 120*time.Second)
	missing := 0
	for id := range want {
		if res.IDs[id] == 0 {
			missing++
		}
	}
	// What may be read twice: the records after the last checkpoint the
	// cluster kept — the checkpoint interval and lease renewals stalled
	// while the slot had no primary (promotion time), plus 2 s.
	bound := int(rate * (promoted.Seconds() + 2) * 2)
	t.Logf("%d events put, %d rows delivered, %d distinct, %d missing, %d duplicates (%.2f%%; bound %d)",
		events, res.Rows, len(res.IDs), missing, res.Duplicates(), 100*float64(res.Duplicates())/float64(events), bound)
	if missing != 0 {
		t.Fatalf("%d events lost", missing)
	}
	if res.Duplicates() > bound {
		t.Errorf("%d duplicates, more than the records read while the lease slot failed over (%d)", res.Duplicates(), bound)
	}
	waitFor(t, "every shard held again", 30*time.Second, func() bool { return len(p.OwnedShards()) == shards })
	awaitReadyz(t, p.OpsAddr(), http.StatusOK, "ready after the failovers")
}

// TestClusterPrimaryRestartedWithoutItsData kills the primary that holds a
// pipeline's leases and starts it again at once, before the cluster
// notices: it comes back as the primary, without the writes it had
// acknowledged (no persistence: empty, or the older snapshot a replica
// keeps from its last full sync). The pipeline must not take that for a
// new application or read on from the older checkpoints: it stops reading
// and is unready naming the loss; what it delivered before stays delivered
// once.
func TestClusterPrimaryRestartedWithoutItsData(t *testing.T) {
	pc := testenv.StartPrivateCluster(t)
	s := newStack(t, 2)
	cfg := s.config(t)
	cfg.Redis.URL = ""
	cfg.Redis.ClusterAddrs = pc.Addrs()
	// A replica with a snapshot on disk (the full sync of a graceful
	// failover) makes the "older state" case; without one it comes back
	// empty. Both must stop the pipeline.
	tag := "{" + s.name + "}"
	pc.Failover(pc.ReplicaOf(pc.PrimaryOf(tag)))
	want := putEvents(t, s, 51, 300)
	p, stop := runPipeline(t, cfg, "w1")
	defer stop()
	s.waitDelivered(t, len(want), 60*time.Second)
	awaitReadyz(t, p.OpsAddr(), http.StatusOK, "ready")
	time.Sleep(time.Second) // checkpoints written after the snapshot

	victim := pc.PrimaryOf(tag)
	at := time.Now()
	pc.Kill(victim)
	pc.Start(victim)
	rep := awaitReadyzWithin(t, p.OpsAddr(), http.StatusServiceUnavailable, "unready after the restart", 15*time.Second)
	if f := failing(rep)["source"]; !strings.Contains(f, "lost its data") {
		t.Fatalf("source check = %q; want the loss named", f)
	}
	t.Logf("primary %s restarted without its data: unready after %s (%s)", victim.Addr(), time.Since(at).Round(time.Millisecond), failing(rep)["source"])
	waitFor(t, "every shard stopped", 10*time.Second, func() bool { return len(p.OwnedShards()) == 0 })
	checkStoppedReading(t, p, s, want, 52, 8*time.Second) // two lease durations
}

// TestWindowsExactThroughClusterFailovers runs a windowed pipeline on a
// Redis Cluster of its own while events (some late) are put, and fails
// over, during the traffic, the primary that holds the window's emitter
// lock (CLUSTER FAILOVER), then kills with SIGKILL the primary that holds
// shard 0's window state (its replica is promoted). The window rows in S3
// equal a plain computation over the events not dead-lettered as late;
// every event is counted once or dead-lettered.
func TestWindowsExactThroughClusterFailovers(t *testing.T) {
	const shards, events, rate = 4, 8000, 800.0
	pc := testenv.StartPrivateCluster(t)
	s := newStack(t, shards)
	winDelivery := s.name + "-win"
	if err := delivered.CreateDeliveryStream(context.Background(), s.env.Firehose(t), winDelivery, s.env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.Parse([]byte(s.yaml("redis", "", windowYAML(winDelivery))), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Redis.URL = ""
	cfg.Redis.ClusterAddrs = pc.Addrs()
	rdb := pc.Client()
	emitKey := "sf-" + s.name + ":win:{" + s.name + ":per_country}:emit"
	shardTag := "{" + s.name + ":per_country:shardId-000000000000}"

	genCfg := workload.Config{Seed: 19, Total: events, Span: 2 * time.Minute, Users: 3000}
	putDone, _ := putAtRate(t, s, genCfg, rate)
	_, stop := runPipeline(t, cfg, "w1")
	defer stop()
	waitFor(t, "a first emission", 60*time.Second, func() bool {
		v, err := rdb.HMGet(context.Background(), emitKey, "holder", "emitted").Result()
		return err == nil && v[0] != nil && v[1] != nil
	})

	old := pc.PrimaryOf(emitKey)
	at := time.Now()
	pc.Failover(pc.ReplicaOf(old))
	t.Logf("CLUSTER FAILOVER of the emitter lock's primary %s in %s", old.Addr(), time.Since(at).Round(time.Millisecond))
	time.Sleep(2 * time.Second)

	victim := pc.PrimaryOf(shardTag)
	pc.Kill(victim)
	promoted := pc.WaitPromoted(victim, shardTag, 30*time.Second)
	t.Logf("SIGKILL of shard 0's window primary %s: replica promoted after %s: %s", victim.Addr(), promoted.Round(time.Millisecond), pc)
	pc.Start(victim)
	pc.WaitOK(30 * time.Second)

	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	all, lastEnd := tumbling10sEvents(genCfg)
	waitWindowsEmitted(t, rdb, emitKey, lastEnd)
	stop()
	verifyWindowRows(t, s, winDelivery, all, "w1")
}

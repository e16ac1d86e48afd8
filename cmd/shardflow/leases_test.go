package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/checkpoints"
	redisstore "github.com/shardflow/shardflow/checkpoints/redis"
	"github.com/shardflow/shardflow/internal/testenv"
)

// TestLeasesShowsOwnersCheckpointsAndLag: leases written to the real store
// (as workers would) and records in kinesalite are reported per shard:
// owner, token, successor, checkpoint, lag behind the tip, load; and the
// live workers with their shard counts.
func TestLeasesShowsOwnersCheckpointsAndLag(t *testing.T) {
	e := testenv.Load(t)
	kc := e.Kinesis(t)
	name := testenv.UniqueName(t, "leases")
	stream := name + "-s"
	testenv.CreateStream(t, kc, stream, 3)
	rc, _ := e.Redis(t)
	ctx := context.Background()
	prefix := "sf-" + name // the application name makes the key space unique
	testenv.CleanupRedisKeys(t, rc, prefix+":")
	store, err := redisstore.New(rc, redisstore.Options{Prefix: prefix, Application: name})
	if err != nil {
		t.Fatal(err)
	}
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{aws.ToString(shards.Shards[0].ShardId), aws.ToString(shards.Shards[1].ShardId), aws.ToString(shards.Shards[2].ShardId)}
	// Two records on shard 0; the checkpoint is at the first one.
	var seqs []string
	for i := range 2 {
		out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte(fmt.Sprint(i)),
			PartitionKey: aws.String("k"), ExplicitHashKey: shards.Shards[0].HashKeyRange.StartingHashKey})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	now := time.Now()
	for _, w := range []string{"w1", "w2"} {
		if err := store.Heartbeat(ctx, checkpoints.Worker{ID: w, Expires: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := store.Acquire(ctx, ids[0], "w1", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := checkpoints.Holding{Shard: ids[0], Worker: "w1", Token: l.Token}
	if err := store.Checkpoint(ctx, h, seqs[0], now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if errs := store.Renew(ctx, []checkpoints.Holding{h}, []float64{2048}, now, time.Minute); errs[0] != nil {
		t.Fatal(errs[0])
	}
	l1, err := store.Acquire(ctx, ids[1], "w2", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Handoff(ctx, checkpoints.Holding{Shard: ids[1], Worker: "w2", Token: l1.Token}, "w1", now); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	yaml := fmt.Sprintf(`
name: %s
aws: {region: %s, endpoints: {kinesis: %s}}
redis: {url: "%s", key_prefix: "%s"}
source: {stream: %s}
schema: [{name: a, type: string}]
outputs: [{name: o, firehose: {delivery_stream: d}}]
`, name, e.Region, e.KinesisEndpoint, e.RedisURL, prefix, stream)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("leases", "-c", cfg, "--json")
	if code != 0 {
		t.Fatalf("leases: code %d: %s", code, errOut)
	}
	var got struct {
		Shards  []leaseRow  `json:"shards"`
		Workers []workerRow `json:"workers"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got.Shards) != 3 || len(got.Workers) != 2 {
		t.Fatalf("%d shards, %d workers:\n%s", len(got.Shards), len(got.Workers), out)
	}
	s0, s1, s2 := got.Shards[0], got.Shards[1], got.Shards[2]
	if s0.Owner != "w1" || s0.Checkpoint != seqs[0] || s0.Token != l.Token || s0.LoadBytesS != 2048 || s0.State != "open" {
		t.Errorf("shard 0: %+v", s0)
	}
	if s0.LagMillis < 0 {
		t.Errorf("shard 0's lag not measured: %+v", s0)
	}
	if s1.Owner != "w2" || s1.Successor != "w1" {
		t.Errorf("shard 1 (handoff to w1 in progress): %+v", s1)
	}
	if s2.Owner != "" || s2.Checkpoint != "" {
		t.Errorf("shard 2 (never leased): %+v", s2)
	}
	if got.Workers[0].Worker != "w1" || got.Workers[0].Shards != 1 || got.Workers[1].Shards != 1 {
		t.Errorf("workers: %+v", got.Workers)
	}
	// The table form names the same things.
	code, out, errOut = runCLI("leases", "-c", cfg, "--no-lag")
	if code != 0 {
		t.Fatalf("leases: code %d: %s", code, errOut)
	}
	for _, want := range []string{"SHARD", ids[0], "w1", "2.0 KiB/s", "WORKER", "w2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

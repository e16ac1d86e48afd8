package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/pipelinetest"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// testPipeline writes a pipeline file for stack s: one Firehose NDJSON
// output to delivery, the given lease store and initial position.
func testPipeline(t *testing.T, s *pipelinetest.Stack, delivery, store, initial string, extra ...string) (path string, cfg *pipeline.Config) {
	t.Helper()
	yaml := fmt.Sprintf(`
name: %s
aws:
  region: %s
  endpoints: {kinesis: %s, dynamodb: %s, firehose: %s, s3: %s}
redis: {url: "%s", key_prefix: "sf-%s"}
source:
  stream: %s
  initial_position: %s
  checkpoints: {type: %s}
  lease_duration: 4s
  shard_sync_interval: 250ms
  idle_time_between_reads: 200ms
  checkpoint_interval: 200ms
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64}
  - {name: user_agent, type: string}
outputs:
  - name: events
    firehose: {delivery_stream: %s, linger: 100ms}
dead_letter:
  file: %s
shutdown_timeout: 15s
ops: {listen: "127.0.0.1:0"}
%s
`, s.Name, s.Env.Region, s.Env.KinesisEndpoint, s.Env.DynamoDBEndpoint, s.Env.FirehoseEndpoint, s.Env.S3Endpoint,
		s.Env.RedisURL, s.Name, s.Stream, initial, store, delivery, filepath.Join(t.TempDir(), "dead.ndjson"), strings.Join(extra, "\n"))
	path = filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if store == "redis" {
		t.Cleanup(func() { cleanupRedis(t, s.Env.RedisURL, "sf-"+s.Name+":*") })
	}
	return path, cfg
}

// putEvents puts n generated events (seed) and returns their ids.
func putEvents(t *testing.T, s *pipelinetest.Stack, seed uint64, n int) map[string]bool {
	t.Helper()
	cfg := workload.Config{Seed: seed, Total: n}
	if _, err := produce.Put(context.Background(), s.Env.Kinesis(t), workload.New(cfg), produce.Options{Stream: s.Stream, Count: n}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	gen := workload.New(cfg)
	for range n {
		e := gen.Next()
		ids[e.ID()] = true
	}
	return ids
}

// countIDs fails unless every id of want arrived exactly times times.
func countIDs(t *testing.T, got map[string]int, want map[string]bool, times int, what string) {
	t.Helper()
	bad := 0
	for id := range want {
		if got[id] != times {
			if bad < 3 {
				t.Errorf("%s: event %s arrived %d times, want %d", what, id, got[id], times)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d events did not arrive exactly %d times", what, bad, len(want), times)
	}
}

// TestCheckpointsResetToTrimHorizonRedelivers: a pipeline whose
// initial_position is LATEST delivers what is put while it runs and
// checkpoints it. `checkpoints reset` refuses while it holds the leases;
// after it stopped, `reset --to trim_horizon` makes the next run deliver
// every event again — all of them once more, although the shards have
// checkpoints and initial_position says LATEST.
func TestCheckpointsResetToTrimHorizonRedelivers(t *testing.T) {
	const events = 800
	s := pipelinetest.New(t, 2)
	delivery := s.Delivery(t, "out")
	path, cfg := testPipeline(t, s, delivery, "redis", "LATEST")

	r1 := pipelinetest.Run(t, cfg, "w1")
	pipelinetest.WaitLeases(t, r1, 2, 30*time.Second)
	time.Sleep(time.Second) // both shards' LATEST iterators are taken
	want := putEvents(t, s, 51, events)
	res := s.WaitRows(t, delivery+"/", "event_id", events, 60*time.Second)
	countIDs(t, res.IDs, want, 1, "first run")
	pipelinetest.WaitFor(t, "checkpoints of every record", 20*time.Second, func() bool {
		return pipelinetest.Scrape(t, r1.P, "shardflow_records_acked_total", "") == events &&
			pipelinetest.Scrape(t, r1.P, "shardflow_checkpoints_total", "") >= 2
	})
	time.Sleep(500 * time.Millisecond) // a checkpoint_interval past the last ack

	code, out, errOut := runCLI("checkpoints", "list", "-c", path)
	if code != 0 || strings.Count(out, " w1 ") != 2 || !strings.Contains(out, "live") {
		t.Fatalf("list while w1 runs: exit %d\n%s\n%s", code, out, errOut)
	}
	// The last checkpoint of each shard follows its last ack within
	// checkpoint_interval: poll until status sees both caught up.
	pipelinetest.WaitFor(t, "status: both shards caught up", 15*time.Second, func() bool {
		code, out, errOut = runCLI("status", "-c", path)
		if code != 0 {
			t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
		}
		return strings.Count(out, "caught up") == 2
	})
	if !strings.Contains(out, "2 live leases; 0 shards not finished and not owned") {
		t.Fatalf("status while w1 runs:\n%s", out)
	}
	code, out, errOut = runCLI("checkpoints", "reset", "-c", path, "--to", "trim_horizon")
	if code != 1 || !strings.Contains(errOut, "live leases on 2 shards") {
		t.Fatalf("reset while w1 holds the leases: exit %d, want 1 and a refusal\n%s\n%s", code, out, errOut)
	}

	c1 := r1.Stop()
	if c1.RecordsIn != events {
		t.Fatalf("first run read %d records, want %d", c1.RecordsIn, events)
	}
	code, out, errOut = runCLI("checkpoints", "reset", "-c", path, "--to", "TRIM_HORIZON", "--dry-run")
	if code != 0 || !strings.Contains(out, "would reset 2 shards") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI("checkpoints", "reset", "-c", path, "--to", "trim_horizon")
	if code != 0 || !strings.Contains(out, "reset 2 shards") {
		t.Fatalf("reset after the stop: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("reset:\n%s", out)
	code, out, errOut = runCLI("status", "-c", path)
	if code != 0 || strings.Count(out, "next record arrived") != 2 || !strings.Contains(out, "0 live leases; 2 shards not finished and not owned") {
		t.Fatalf("status after the rewind: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("status:\n%s", out)

	r2 := pipelinetest.Run(t, cfg, "w2")
	res = s.WaitRows(t, delivery+"/", "event_id", 2*events, 60*time.Second)
	c2 := r2.Stop()
	if c2.RecordsIn != events {
		t.Fatalf("run after the rewind read %d records, want every one of the %d again", c2.RecordsIn, events)
	}
	res = s.Collect(t, delivery+"/", "event_id")
	countIDs(t, res.IDs, want, 2, "after the rewind")
	if res.Rows != 2*events {
		t.Fatalf("%d rows in S3, want %d", res.Rows, 2*events)
	}
}

// TestCheckpointsResetToTimestampAndLatest (DynamoDB leases): after a run
// delivered batches A and B, `reset --to at_timestamp=T` (T between them)
// re-delivers exactly B; `reset --to latest` then re-delivers nothing, and
// batch C put afterwards arrives once.
func TestCheckpointsResetToTimestampAndLatest(t *testing.T) {
	const a, b, c = 300, 200, 100
	s := pipelinetest.New(t, 2)
	delivery := s.Delivery(t, "out")
	path, cfg := testPipeline(t, s, delivery, "dynamodb", "TRIM_HORIZON")
	wantA := putEvents(t, s, 61, a)
	time.Sleep(1500 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(1500 * time.Millisecond)
	wantB := putEvents(t, s, 62, b)

	r1 := pipelinetest.Run(t, cfg, "w1")
	s.WaitRows(t, delivery+"/", "event_id", a+b, 60*time.Second)
	pipelinetest.WaitFor(t, "every record acked", 20*time.Second, func() bool {
		return pipelinetest.Scrape(t, r1.P, "shardflow_records_acked_total", "") == a+b
	})
	time.Sleep(500 * time.Millisecond)
	r1.Stop()

	code, out, errOut := runCLI("checkpoints", "reset", "-c", path, "--to", "at_timestamp", at.Format(time.RFC3339Nano))
	if code != 0 || !strings.Contains(out, "reset 2 shards") {
		t.Fatalf("reset at_timestamp: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("reset:\n%s", out)
	r2 := pipelinetest.Run(t, cfg, "w2")
	s.WaitRows(t, delivery+"/", "event_id", a+2*b, 60*time.Second)
	time.Sleep(2 * time.Second) // anything before T read again would land by now
	if c2 := r2.Stop(); c2.RecordsIn != b {
		t.Fatalf("run after at_timestamp read %d records, want batch B's %d", c2.RecordsIn, b)
	}
	res := s.Collect(t, delivery+"/", "event_id")
	countIDs(t, res.IDs, wantA, 1, "batch A (before T)")
	countIDs(t, res.IDs, wantB, 2, "batch B (after T)")

	// A backlog put while nothing runs: `reset --to latest` skips it.
	backlog := putEvents(t, s, 64, 150)
	time.Sleep(time.Second)
	code, out, errOut = runCLI("checkpoints", "reset", "-c", path, "--to", "latest")
	if code != 0 || !strings.Contains(out, "reset 2 shards") {
		t.Fatalf("reset latest: exit %d\n%s\n%s", code, out, errOut)
	}
	r3 := pipelinetest.Run(t, cfg, "w3")
	pipelinetest.WaitLeases(t, r3, 2, 30*time.Second)
	time.Sleep(2 * time.Second)
	wantC := putEvents(t, s, 63, c)
	s.WaitRows(t, delivery+"/", "event_id", a+2*b+c, 60*time.Second)
	time.Sleep(2 * time.Second)
	if c3 := r3.Stop(); c3.RecordsIn != c {
		t.Fatalf("run after latest read %d records, want batch C's %d only (not the backlog's 150)", c3.RecordsIn, c)
	}
	res = s.Collect(t, delivery+"/", "event_id")
	countIDs(t, res.IDs, wantC, 1, "batch C (after latest)")
	countIDs(t, res.IDs, backlog, 0, "the backlog skipped by latest")
	countIDs(t, res.IDs, wantB, 2, "batch B")
}

func cleanupRedis(t *testing.T, url, pattern string) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	ctx := context.Background()
	iter := rc.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		rc.Del(ctx, iter.Val())
	}
}

// TestStatusShowsWindowProgress: status reads each window's emitter hash
// (holder, lock expiry, watermark, emitted-through) as processors/window
// writes it.
func TestStatusShowsWindowProgress(t *testing.T) {
	s := pipelinetest.New(t, 1)
	path, cfg := testPipeline(t, s, "unused", "redis", "TRIM_HORIZON", `windows:
  - name: per_page
    time_column: ts
    tumbling: 1m
    group_by: [page]
    aggregates: [{name: views, fn: count}]
    idle_timeout: 15s
    output: {firehose: {delivery_stream: unused-win}}`)
	opts, err := redis.ParseURL(s.Env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opts)
	defer rc.Close()
	wm := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	key := cfg.Redis.KeyPrefix + ":win:{" + cfg.Name + ":per_page}:emit"
	rc.HSet(context.Background(), key, "holder", "task-7", "expires", time.Now().Add(5*time.Second).UnixMilli(),
		"wm", wm.UnixMicro(), "emitted", wm.Add(-time.Minute).UnixMicro(), "token", 3)
	code, out, errOut := runCLI("status", "-c", path)
	if code != 0 || !strings.Contains(out, "per_page") || !strings.Contains(out, "task-7 (lock for") ||
		!strings.Contains(out, "2026-11-22T10:05:00Z") || !strings.Contains(out, "2026-11-22T10:04:00Z") ||
		!strings.Contains(out, "never leased") {
		t.Fatalf("status: exit %d\n%s\n%s", code, out, errOut)
	}
	rc.HSet(context.Background(), key, "expires", "0")
	if _, out, _ := runCLI("status", "-c", path); !strings.Contains(out, "none (task-7's lock expired)") {
		t.Fatalf("status with an expired lock:\n%s", out)
	}
}

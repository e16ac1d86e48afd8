package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// TestWindowsStalledShardHoldsTheWatermark runs a pipeline with a 5 s
// tumbling window on a 4-shard stream whose events carry the wall time of
// their put (so every one of them is on time). Shard 3 never gets a
// record; shard 2 goes quiet early: a truly idle shard must let windows
// close within idle_timeout + max_out_of_orderness (+ the mark's refresh
// and the emit interval). Then
// shard 1's GetRecords calls are held at a gate in front of kinesalite for
// 3 × idle_timeout while events keep arriving in all of shards 0 and 1: the
// stalled shard must hold the watermark (named by
// shardflow_window_watermark_held_by with reason stalled), no window may
// close past its last applied event, and once it reads again nothing is
// dead-lettered and the window rows equal a computation over every event
// put.
func TestWindowsStalledShardHoldsTheWatermark(t *testing.T) {
	const (
		size     = 5 * time.Second
		ooo      = time.Second
		idle     = 5 * time.Second
		interval = 50 * time.Millisecond // between puts to a shard
	)
	s := newStack(t, 4)
	ctx := context.Background()
	winDelivery := s.name + "-win"
	if err := delivered.CreateDeliveryStream(ctx, s.env.Firehose(t), winDelivery, s.env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	yaml := s.yaml("redis", "", windowYAMLWith(winDelivery, windowTiming{
		size: size.String(), ooo: ooo.String(), idle: idle.String(), retention: "5m"}))
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gate := testenv.NewKinesisGate(t, s.env.KinesisEndpoint)
	cfg.AWS.Endpoints.Kinesis = gate.URL()
	opts, err := redis.ParseURL(s.env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	t.Cleanup(func() { cleanupKeys(rdb, "sf-"+s.name+":*") })
	emitKey := "sf-" + s.name + ":win:{" + s.name + ":per_country}:emit"
	emitted := func() time.Time {
		v, err := rdb.HGet(ctx, emitKey, "emitted").Result()
		if err != nil {
			return time.Time{}
		}
		us, _ := strconv.ParseInt(v, 10, 64)
		return time.UnixMicro(us).UTC()
	}

	kc := s.env.Kinesis(t)
	ls, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(s.stream)})
	if err != nil || len(ls.Shards) != 4 {
		t.Fatalf("ListShards: %v (%d shards)", err, len(ls.Shards))
	}
	ids := make([]string, 4)
	for i, sh := range ls.Shards {
		ids[i] = aws.ToString(sh.ShardId)
	}

	// The producer puts one event per interval to each active shard, with
	// ts = now: within a shard event time only grows.
	var (
		mu       sync.Mutex
		produced []workload.Event
		active   = [4]bool{true, true, true, false} // shard 3: never a record
		lastTS   [4]time.Time
	)
	stopPut, putDone := make(chan struct{}), make(chan error, 1)
	go func(stop <-chan struct{}, done chan<- error) {
		gen := workload.New(workload.Config{Seed: 16, Users: 500})
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			for i, sh := range ls.Shards {
				mu.Lock()
				on := active[i]
				mu.Unlock()
				if !on {
					continue
				}
				e := gen.Next()
				e.TS = time.Now().UTC().Truncate(time.Millisecond)
				if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.stream), Data: e.AppendJSON(nil),
					PartitionKey: aws.String(e.ID()), ExplicitHashKey: sh.HashKeyRange.StartingHashKey}); err != nil {
					done <- fmt.Errorf("put to %s: %w", ids[i], err)
					return
				}
				mu.Lock()
				produced, lastTS[i] = append(produced, e), e.TS
				mu.Unlock()
			}
		}
	}(stopPut, putDone)
	stopProducer := func() {
		if stopPut == nil {
			return
		}
		close(stopPut)
		stopPut = nil
		if err := <-putDone; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(stopProducer)
	setActive := func(i int, on bool) time.Time {
		mu.Lock()
		defer mu.Unlock()
		active[i] = on
		return lastTS[i]
	}

	p, stop := runPipeline(t, cfg, "w1")
	waitFor(t, "the first records read", 60*time.Second, func() bool { return p.Counters().RecordsIn > 0 })
	addr := p.OpsAddr()

	// Shard 2 goes quiet and stays so: a truly idle shard. A window ending
	// after it went idle closes within idle_timeout + max_out_of_orderness
	// of the shard's last row, plus the mark's refresh (idle_timeout/4),
	// flush and emit intervals; it could not close while shard 2 held the
	// watermark at its last event.
	time.Sleep(2 * time.Second)
	setActive(2, false)
	time.Sleep(2 * interval) // a put in flight lands
	t2 := setActive(2, false)
	target := t2.Add(idle).Truncate(size).Add(size)
	deadline := time.Until(target.Add(ooo + idle/4 + 3*time.Second))
	waitFor(t, fmt.Sprintf("windows through %s closed with shard %s idle since %s", target, ids[2], t2), deadline, func() bool {
		return !emitted().Before(target)
	})
	t.Logf("idle shard %s: last event %s; windows through %s closed %.1fs after it", ids[2], t2.Format(time.StampMilli),
		target.Format(time.StampMilli), time.Since(t2).Seconds())

	// Shard 1's reader stalls for 3 × idle_timeout while rows keep coming.
	gate.Hold(ids[1])
	holdStart := time.Now()
	waitFor(t, "held_by naming the stalled shard", 3*idle, func() bool {
		return scrape(t, addr, "shardflow_window_watermark_held_by", `reason="stalled",shard="`+ids[1]+`"`) == 1
	})
	time.Sleep(time.Until(holdStart.Add(3 * idle)))
	if e := emitted(); e.After(holdStart) {
		t.Errorf("windows emitted through %s while shard %s stalled since %s: the stall did not hold the watermark", e, ids[1], holdStart)
	}
	if gate.HeldCalls() == 0 {
		t.Fatalf("no GetRecords call of %s was held: the stall did not happen", ids[1])
	}
	gate.Release(ids[1])
	time.Sleep(3 * time.Second)
	stopProducer()
	var maxTS time.Time
	for _, ts := range lastTS {
		if ts.After(maxTS) {
			maxTS = ts
		}
	}
	lastEnd := maxTS.Truncate(size).Add(size)
	waitFor(t, "every window emitted", 60*time.Second, func() bool { return !emitted().Before(lastEnd) })
	stop()

	if n := countLines(t, s.deadFile); n != 0 {
		for _, l := range readLines(t, s.deadFile) {
			t.Log(l)
		}
		t.Fatalf("%d rows dead-lettered; every event was on time", n)
	}
	type key struct {
		start   time.Time
		country string
	}
	type acc struct {
		clicks        int64
		revenue, maxP float64
		users         map[int]bool
	}
	want := map[key]*acc{}
	for _, e := range produced {
		k := key{e.TS.Truncate(size), e.Country}
		a := want[k]
		if a == nil {
			a = &acc{users: map[int]bool{}, maxP: math.Inf(-1)}
			want[k] = a
		}
		a.clicks++
		a.revenue += e.Price
		a.maxP = math.Max(a.maxP, e.Price)
		a.users[e.UserID] = true
	}
	var res *delivered.Result
	waitFor(t, "every window row in S3", 30*time.Second, func() bool {
		res, err = delivered.Collect(ctx, s.env.S3(t), s.env.S3Bucket, winDelivery+"/", "row_id", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.IDs) >= len(want)
	})
	got := map[key]windowRow{}
	for _, line := range res.Sample {
		var r windowRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("window row %q: %v", line, err)
		}
		start, err := time.Parse(time.RFC3339Nano, r.Start)
		if err != nil {
			t.Fatalf("window_start %q: %v", r.Start, err)
		}
		k := key{start.UTC(), r.Country}
		if old, dup := got[k]; dup && old != r {
			t.Fatalf("window %v emitted twice with different rows:\n%+v\n%+v", k, old, r)
		}
		got[k] = r
	}
	bad := 0
	for k, w := range want {
		g, ok := got[k]
		tol := math.Max(1, 3*0.0081*float64(len(w.users)))
		if !ok || g.Clicks != w.clicks || math.Abs(g.Revenue-w.revenue) > 1e-6*math.Max(1, w.revenue) ||
			g.MaxPrice != w.maxP || math.Abs(float64(g.Users-int64(len(w.users)))) > tol {
			if bad++; bad <= 5 {
				t.Errorf("window %v: got %+v, want clicks %d revenue %.2f max %.2f users %d", k, g, w.clicks, w.revenue, w.maxP, len(w.users))
			}
		}
	}
	t.Logf("%d events in %d window rows; %d GetRecords calls of %s held", len(produced), len(got), gate.HeldCalls(), ids[1])
	if bad > 0 || len(got) != len(want) {
		t.Fatalf("%d windows differ; %d rows vs %d expected", bad, len(got), len(want))
	}
}

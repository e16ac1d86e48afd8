package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/delivered"
)

// windowYAML is a 10 s tumbling window per country on the test stream,
// sent to its own delivery stream.
func windowYAML(delivery string) string {
	return windowYAMLWith(delivery, windowTiming{size: "10s", ooo: "2s", lateness: "1s", idle: "15s", retention: "45s"})
}

// windowTiming is the time settings of windowYAMLWith's window ("": the
// default).
type windowTiming struct{ size, ooo, lateness, idle, retention string }

// windowYAMLWith is windowYAML's window with other time settings.
func windowYAMLWith(delivery string, w windowTiming) string {
	var opt strings.Builder
	for _, kv := range [][2]string{{"max_out_of_orderness", w.ooo}, {"allowed_lateness", w.lateness},
		{"idle_timeout", w.idle}, {"emitted_retention", w.retention}} {
		if kv[1] != "" {
			fmt.Fprintf(&opt, "\n    %s: %s", kv[0], kv[1])
		}
	}
	return fmt.Sprintf(`windows:
  - name: per_country
    time_column: ts
    tumbling: %s
    group_by: [country]%s
    flush_interval: 250ms
    emit_interval: 250ms
    aggregates:
      - {name: clicks, fn: count}
      - {name: revenue, fn: sum, column: price}
      - {name: max_price, fn: max, column: price}
      - {name: users, fn: count_distinct, column: user_id}
    output:
      firehose: {delivery_stream: %s, linger: 100ms}`, w.size, opt.String(), delivery)
}

type windowRow struct {
	Start    string  `json:"window_start"`
	Country  string  `json:"country"`
	Clicks   int64   `json:"clicks"`
	Revenue  float64 `json:"revenue"`
	MaxPrice float64 `json:"max_price"`
	Users    int64   `json:"users"`
	RowID    string  `json:"row_id"`
}

// TestWindowsExactWithWorkerAndEmitterKilled runs two `shardflow run`
// processes with a window on a 4-shard stream while events (some late) are
// put, kills -9 the one holding the emitter lock mid-run and starts a
// replacement. The window rows in S3 equal a plain computation over the
// events that were not dead-lettered as late; every input event is either
// counted once or dead-lettered; duplicates are only re-emissions with the
// same row id and values.
func TestWindowsExactWithWorkerAndEmitterKilled(t *testing.T) {
	const shards, events, rate = 4, 12000, 1000.0
	s := newStack(t, shards)
	winDelivery := s.name + "-win"
	if err := delivered.CreateDeliveryStream(context.Background(), s.env.Firehose(t), winDelivery, s.env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	cfg := s.writeConfig(t, "redis", "", windowYAML(winDelivery))
	shardflowBinary(t)
	opts, err := redis.ParseURL(s.env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	emitKey := "sf-" + s.name + ":win:{" + s.name + ":per_country}:emit"
	t.Cleanup(func() { cleanupKeys(rdb, "sf-"+s.name+":*") })

	genCfg := workload.Config{Seed: 9, Total: events, Span: 2 * time.Minute, Users: 3000}
	putDone, _ := putAtRate(t, s, genCfg, rate)
	workers := map[string]*worker{"w1": startWorker(t, cfg, "w1"), "w2": startWorker(t, cfg, "w2")}

	// Once windows are being emitted, kill -9 the emitter's holder.
	var holder string
	waitFor(t, "a first emission", 60*time.Second, func() bool {
		v, err := rdb.HMGet(context.Background(), emitKey, "holder", "emitted").Result()
		if err != nil || v[0] == nil || v[1] == nil {
			return false
		}
		holder = v[0].(string)
		return true
	})
	victim := workers[holder]
	if victim == nil {
		t.Fatalf("emitter holder %q is not one of the workers", holder)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	delete(workers, holder)
	workers["w3"] = startWorker(t, cfg, "w3")
	t.Logf("killed %s (emitter holder, shards %v) with kill -9; started w3", holder, victim.shards())

	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	// Expected: every event, minus those dead-lettered as late.
	all, lastEnd := tumbling10sEvents(genCfg)
	waitWindowsEmitted(t, rdb, emitKey, lastEnd)
	// Emitted windows' deltas expire after windows[].emitted_retention
	// (45 s here; 10 m by default), set by the cleanup that follows the
	// emission's record: within a few emitter cycles.
	var bad []string
	lists := 0
	expiring := func() bool {
		bad, lists = bad[:0], 0
		iter := rdb.Scan(context.Background(), 0, "sf-"+s.name+":win:*:w:*", 1000).Iterator()
		for iter.Next(context.Background()) {
			ttl, err := rdb.PTTL(context.Background(), iter.Val()).Result()
			if err != nil || ttl <= 0 || ttl > 45*time.Second {
				bad = append(bad, fmt.Sprintf("%s: TTL %v (%v)", iter.Val(), ttl, err))
			}
			lists++
		}
		return iter.Err() == nil && lists > 0 && len(bad) == 0
	}
	for deadline := time.Now().Add(10 * time.Second); !expiring(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the last emission, %d delta lists, these without an expiry in (0, 45s]: %v", lists, bad)
		}
	}
	newHolder, _ := rdb.HGet(context.Background(), emitKey, "holder").Result()
	for id, w := range workers {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-w.exited; err != nil {
			t.Errorf("%s exited with %v after SIGTERM", id, err)
		}
	}

	verifyWindowRows(t, s, winDelivery, all, newHolder)
	if newHolder == holder {
		t.Fatalf("the killed worker still holds the emitter lock")
	}
}

// waitWindowsEmitted waits until the window's emitter recorded every
// window ending at or before lastEnd as emitted.
func waitWindowsEmitted(t *testing.T, rdb redis.UniversalClient, emitKey string, lastEnd time.Time) {
	t.Helper()
	waitFor(t, "every window emitted", 120*time.Second, func() bool {
		v, err := rdb.HGet(context.Background(), emitKey, "emitted").Result()
		if err != nil {
			return false
		}
		us, _ := strconv.ParseInt(v, 10, 64)
		return !time.UnixMicro(us).Before(lastEnd)
	})
}

// verifyWindowRows checks the window rows in S3 (windowYAML's delivery
// stream) against a plain computation over all minus the rows
// dead-lettered as late: every window once, equal values, every event
// counted once or dead-lettered; a row id delivered twice only with the
// same values. holder is logged.
func verifyWindowRows(t *testing.T, s *stack, winDelivery string, all []workload.Event, holder string) {
	t.Helper()
	late := map[string]bool{}
	for _, line := range readLines(t, s.deadFile) {
		var d struct {
			Reason string `json:"reason"`
			Raw    []byte `json:"raw_base64"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(d.Reason, "late_row:") {
			t.Fatalf("unexpected dead letter %q", d.Reason)
		}
		var row struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(d.Raw, &row); err != nil {
			t.Fatalf("late row %q: %v", d.Raw, err)
		}
		late[row.EventID] = true
	}
	type key struct {
		start   time.Time
		country string
	}
	type acc struct {
		clicks        int64
		revenue, maxP float64
		users         map[int]bool
		anyPrice      bool
	}
	want := map[key]*acc{}
	for _, e := range all {
		if late[e.ID()] {
			continue
		}
		k := key{e.TS.Truncate(time.Millisecond).Truncate(10 * time.Second), e.Country}
		a := want[k]
		if a == nil {
			a = &acc{users: map[int]bool{}}
			want[k] = a
		}
		a.clicks++
		a.revenue += e.Price
		if !a.anyPrice || e.Price > a.maxP {
			a.maxP, a.anyPrice = e.Price, true
		}
		a.users[e.UserID] = true
	}

	// Firehose acked every result row; its buffer reaches S3 a moment later.
	var res *delivered.Result
	var err error
	waitFor(t, "every window row in S3", 30*time.Second, func() bool {
		res, err = delivered.Collect(context.Background(), s.env.S3(t), s.env.S3Bucket, winDelivery+"/", "row_id", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.IDs) >= len(want)
	})
	got := map[key]windowRow{}
	byID := map[string]windowRow{}
	reemitted := 0
	for _, line := range res.Sample {
		var r windowRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("window row %q: %v", line, err)
		}
		if old, ok := byID[r.RowID]; ok {
			reemitted++
			if old != r {
				t.Fatalf("row id %s delivered with different values:\n%+v\n%+v", r.RowID, old, r)
			}
			continue
		}
		byID[r.RowID] = r
		start, err := time.Parse(time.RFC3339Nano, r.Start)
		if err != nil {
			t.Fatalf("window_start %q: %v", r.Start, err)
		}
		k := key{start.UTC(), r.Country}
		if _, dup := got[k]; dup {
			t.Fatalf("window %v emitted under two row ids", k)
		}
		got[k] = r
	}
	var counted int64
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
	for _, g := range got {
		counted += g.Clicks
	}
	t.Logf("events %d: counted in windows %d, late (dead-lettered) %d; %d window rows, %d re-emitted with the same id; emitter now held by %s",
		len(all), counted, len(late), len(got), reemitted, holder)
	if bad > 0 || len(got) != len(want) {
		t.Fatalf("%d windows differ; %d rows vs %d expected", bad, len(got), len(want))
	}
	if counted+int64(len(late)) != int64(len(all)) {
		t.Fatalf("counted %d + late %d != %d events: double counted or lost", counted, len(late), len(all))
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	n := countLines(t, path)
	if n == 0 {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func cleanupKeys(rdb *redis.Client, pattern string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

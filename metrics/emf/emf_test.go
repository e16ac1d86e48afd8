package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// lines is a concurrency-safe io.Writer collecting what the writer wrote.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// docs parses every line as one EMF document.
func (l *lines) docs(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(l.buf.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// checkEMF verifies the document against the EMF specification's rules:
// _aws with a millisecond Timestamp and one directive whose dimension keys
// and metric names are all top-level members of the right type.
func checkEMF(t *testing.T, d map[string]any, at time.Time) {
	t.Helper()
	aws, ok := d["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws object: %v", d)
	}
	if ts, _ := aws["Timestamp"].(float64); int64(ts) != at.UnixMilli() {
		t.Errorf("Timestamp = %v, want %d", aws["Timestamp"], at.UnixMilli())
	}
	dirs, _ := aws["CloudWatchMetrics"].([]any)
	if len(dirs) != 1 {
		t.Fatalf("CloudWatchMetrics = %v", aws["CloudWatchMetrics"])
	}
	dir := dirs[0].(map[string]any)
	if dir["Namespace"] != "shardflow" {
		t.Errorf("Namespace = %v", dir["Namespace"])
	}
	for _, set := range dir["Dimensions"].([]any) {
		for _, key := range set.([]any) {
			if _, ok := d[key.(string)].(string); !ok {
				t.Errorf("dimension %v is not a string member", key)
			}
		}
	}
	ms := dir["Metrics"].([]any)
	if len(ms) != int(numMetrics) || len(ms) > 100 {
		t.Errorf("%d metric definitions, want %d (≤ 100)", len(ms), numMetrics)
	}
	for _, m := range ms {
		name := m.(map[string]any)["Name"].(string)
		if _, ok := d[name].(float64); !ok {
			t.Errorf("metric %s has no numeric member", name)
		}
	}
}

func callHooks(h metrics.Hooks) {
	h.LeaseGained("shardId-0")
	h.LeaseGained("shardId-1")
	h.RecordsRead("shardId-0", 100, 30_000, 1500)
	h.RecordsRead("shardId-1", 50, 15_000, 4000)
	h.BatchAcked("shardId-0", 100, 40*time.Millisecond, nil)
	h.BatchAcked("shardId-1", 50, time.Second, errors.New("gave up"))
	h.Checkpointed("shardId-0", 2500*time.Millisecond)
	h.Checkpointed("shardId-0", 1500*time.Millisecond)
	h.RowsOut("events", 150)
	h.FirehoseCall("s", metrics.FirehoseCall{Records: 3, PayloadBytes: 2_000_000, FailedRecords: 1, BilledBytes: 1_331_200, Latency: 80 * time.Millisecond})
	h.FirehoseCall("s", metrics.FirehoseCall{Records: 1, PayloadBytes: 700_000, Attempt: 1, Latency: 250 * time.Millisecond, Err: errors.New("throttled")})
	h.DeadLetter("invalid_json: x", 3)
	h.RedisCall("checkpoint", 1500*time.Microsecond, nil)
	h.RedisCall("checkpoint", 500*time.Microsecond, errors.New("timeout"))
	h.WindowFlush("w", 10)
	h.WindowEmit("w", 7)
	h.LateRows("w", 2, metrics.LateDrop)
	h.LeaseLost("shardId-1", metrics.LeaseReleased)
	h.LeaseAcquired("shardId-2", metrics.AcquiredFree)
	h.LeaseAcquired("shardId-3", metrics.AcquiredTakeover)
	h.LeaseGroup([]metrics.WorkerLeases{{Worker: "a", Held: 2}, {Worker: "b", Held: 1}}, 1.5)
	h.SourceError("GetRecords", "ProvisionedThroughputExceededException")
	h.InputSkipped("cloudwatch_control_message", 2)
	// Two windows whose lock this process holds, one that moved away.
	now := time.Now()
	h.WindowProgress("w", now.Add(-40*time.Second), now.Add(-90*time.Second))
	h.WindowProgress("v", now.Add(-20*time.Second), now.Add(-200*time.Second))
	h.WindowProgress("u", now.Add(-time.Hour), now.Add(-time.Hour))
	h.WindowProgress("u", time.Time{}, time.Time{})
	h.WindowHeld("w", "shardId-1", metrics.HeldBehind)
	h.WindowHeld("v", "shardId-2", metrics.HeldEventTime)
	h.S3Upload("lake", metrics.S3Upload{Rows: 10, Bytes: 1000})
	h.S3Upload("lake", metrics.S3Upload{Rows: 5, Bytes: 500, Parts: 2})
	h.S3Upload("lake", metrics.S3Upload{Rows: 5, Bytes: 500, Err: errors.New("gave up")})
	h.S3Retry("lake")
	h.LookupCache("user:{user_id}", 100, 80)
}

func TestLinesPerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &lines{}
		w, err := New(Options{Pipeline: "clicks", Output: out, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		callHooks(w)
		time.Sleep(DefaultInterval)
		synctest.Wait()
		docs := out.docs(t)
		if len(docs) != 1 {
			t.Fatalf("%d lines after one interval, want 1", len(docs))
		}
		d := docs[0]
		checkEMF(t, d, start.Add(DefaultInterval))
		want := map[string]float64{
			"RecordsRead": 150, "BytesRead": 45_000, "MaxMillisBehindLatest": 4000,
			"RecordsAcked": 100, "BatchesFailed": 1, "Checkpoints": 2, "MaxCheckpointLag": 2.5,
			"LeasesHeld": 1, "LeasesLost": 1, "OutputRows": 150,
			"FirehoseCalls": 2, "FirehoseCallErrors": 1, "FirehoseRetries": 1, "FirehoseRecords": 4,
			"FirehoseFailedRecords": 2, "FirehosePayloadBytes": 2_700_000, "FirehoseBilledBytes": 1_331_200,
			"MaxFirehoseCallLatency": 250, "DeadLetterRows": 3, "RedisCalls": 2, "RedisErrors": 1,
			"MaxRedisLatency": 1.5, "WindowFlushes": 1, "WindowEmittedRows": 7, "LateRows": 2,
			"LeasesAcquired": 2, "LeaseTakeovers": 1, "LeaseBalance": 1.5, "SourceErrors": 1, "InputSkipped": 2,
			"WindowEmissions": 1, "MaxWatermarkLag": 40 + DefaultInterval.Seconds(), "MaxEmitLag": 200 + DefaultInterval.Seconds(),
			"S3Objects": 2, "S3Bytes": 1500, "S3Rows": 15, "S3UploadErrors": 1, "S3Retries": 1,
			"LookupCacheLookups": 100, "LookupCacheHits": 80, "WatermarksHeldByStuckShards": 1,
		}
		if len(want) != int(numMetrics) {
			t.Fatalf("test covers %d metrics of %d", len(want), numMetrics)
		}
		for name, v := range want {
			if d[name] != v {
				t.Errorf("%s = %v, want %v", name, d[name], v)
			}
		}
		if d["pipeline"] != "clicks" {
			t.Errorf("pipeline = %v", d["pipeline"])
		}

		// The next interval starts from zero, except the leases held; Close
		// writes the partial interval and stops the goroutine (a leaked
		// goroutine would fail synctest.Test).
		w.RecordsRead("shardId-0", 5, 10, 20)
		time.Sleep(10 * time.Second)
		if err := w.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		docs = out.docs(t)
		if len(docs) != 2 {
			t.Fatalf("%d lines after Close, want 2", len(docs))
		}
		d = docs[1]
		checkEMF(t, d, start.Add(DefaultInterval+10*time.Second))
		for name, v := range map[string]float64{"RecordsRead": 5, "MaxMillisBehindLatest": 20, "LeasesHeld": 1, "Checkpoints": 0, "FirehoseCalls": 0} {
			if d[name] != v {
				t.Errorf("second line %s = %v, want %v", name, d[name], v)
			}
		}
	})
}

func TestHooksDoNotAllocate(t *testing.T) {
	w, err := New(Options{Pipeline: "clicks", Output: &lines{}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	errCall := errors.New("x")
	if n := testing.AllocsPerRun(200, func() {
		w.RecordsRead("shardId-0", 100, 30_000, 1500)
		w.BatchAcked("shardId-0", 100, time.Millisecond, nil)
		w.Checkpointed("shardId-0", time.Second)
		w.RowsOut("events", 100)
		w.FirehoseCall("s", metrics.FirehoseCall{Records: 3, Latency: time.Millisecond, Err: errCall})
		w.DeadLetter("invalid_json: x", 1)
		w.RedisCall("checkpoint", time.Millisecond, nil)
		w.WindowFlush("w", 1)
		w.WindowEmit("w", 1)
		w.LateRows("w", 1, metrics.LateDrop)
	}); n != 0 {
		t.Errorf("%v allocations per round of hooks, want 0", n)
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("missing pipeline accepted")
	}
	if o := (Options{Pipeline: "p"}).withDefaults(); o.Output != os.Stdout || o.Interval != DefaultInterval || o.Namespace != DefaultNamespace || o.Logger == nil {
		t.Errorf("defaults = %+v", o)
	}
	w, err := New(Options{Pipeline: "p", Output: &lines{}})
	if err != nil {
		t.Fatal(err)
	}
	// Close with an expired context reports it unless the goroutine is
	// already done; either way a later Close succeeds.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = w.Close(ctx)
	if err := w.Close(context.Background()); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestWatermarksHeldByStuckShards counts the operators whose watermark a
// shard that is not flowing holds, as of the latest cycle; event_time and
// no holder do not count, and an operator whose lock moved away drops out.
func TestWatermarksHeldByStuckShards(t *testing.T) {
	w := &Writer{opts: Options{Pipeline: "p", Namespace: "n"}.withDefaults(), held: map[string]struct{}{}, progress: map[string]windowProgress{}}
	now := time.Now()
	w.WindowProgress("a", now, time.Time{})
	w.WindowHeld("a", "s1", metrics.HeldStalled)
	w.WindowProgress("b", now, time.Time{})
	w.WindowHeld("b", "s2", metrics.HeldEventTime)
	w.WindowProgress("c", time.Time{}, time.Time{}) // holding, no watermark yet
	w.WindowHeld("c", "s3", metrics.HeldUnread)
	if v := decode(t, w)["WatermarksHeldByStuckShards"]; v != 2.0 {
		t.Errorf("WatermarksHeldByStuckShards = %v, want 2 (a stalled, c unread)", v)
	}
	w.WindowProgress("a", now, time.Time{})
	w.WindowHeld("a", "", "")
	w.WindowProgress("c", time.Time{}, time.Time{}) // c's lock moved away
	w.WindowHeld("c", "", "")
	if v := decode(t, w)["WatermarksHeldByStuckShards"]; v != 0.0 {
		t.Errorf("WatermarksHeldByStuckShards = %v after the shards flowed again, want 0", v)
	}
}

package emf

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// hookSamples calls each hook of metrics.Hooks once, by method name.
var hookSamples = map[string]func(metrics.Hooks){
	"RecordsRead":    func(h metrics.Hooks) { h.RecordsRead("s", 3, 30, 100) },
	"BatchAcked":     func(h metrics.Hooks) { h.BatchAcked("s", 3, time.Millisecond, nil) },
	"Checkpointed":   func(h metrics.Hooks) { h.Checkpointed("s", time.Second) },
	"LeaseGained":    func(h metrics.Hooks) { h.LeaseGained("s") },
	"LeaseLost":      func(h metrics.Hooks) { h.LeaseLost("s", metrics.LeaseExpired) },
	"RowsOut":        func(h metrics.Hooks) { h.RowsOut("o", 3) },
	"FirehoseCall":   func(h metrics.Hooks) { h.FirehoseCall("f", metrics.FirehoseCall{Records: 1, PayloadBytes: 10}) },
	"DeadLetter":     func(h metrics.Hooks) { h.DeadLetter("invalid_json: x", 1) },
	"RedisCall":      func(h metrics.Hooks) { h.RedisCall("op", time.Millisecond, errors.New("x")) },
	"WindowFlush":    func(h metrics.Hooks) { h.WindowFlush("w", 2) },
	"WindowEmit":     func(h metrics.Hooks) { h.WindowEmit("w", 2) },
	"LateRows":       func(h metrics.Hooks) { h.LateRows("w", 1, metrics.LateDrop) },
	"WindowProgress": func(h metrics.Hooks) { h.WindowProgress("w", time.Now().Add(-time.Minute), time.Time{}) },
	"WindowHeld":     func(h metrics.Hooks) { h.WindowHeld("w", "s", metrics.HeldStalled) },
	"S3Upload":       func(h metrics.Hooks) { h.S3Upload("lake", metrics.S3Upload{Rows: 2, Bytes: 20}) },
	"S3Retry":        func(h metrics.Hooks) { h.S3Retry("lake") },
	"LookupCache":    func(h metrics.Hooks) { h.LookupCache("user:{user_id}", 4, 3) },
	"LeaseAcquired":  func(h metrics.Hooks) { h.LeaseAcquired("s", metrics.AcquiredTakeover) },
	"LeaseGroup":     func(h metrics.Hooks) { h.LeaseGroup([]metrics.WorkerLeases{{Worker: "w", Held: 2}}, 1.5) },
	"InputSkipped":   func(h metrics.Hooks) { h.InputSkipped("csv_header", 2) },
	"SourceError":    func(h metrics.Hooks) { h.SourceError("GetRecords", "ExpiredIteratorException") },
}

// TestEveryHookHasADocumentedEMFMetric: every hook moves at least one EMF
// metric of the line, and every metric a line can carry is in README.md's
// EMF table (and no other).
func TestEveryHookHasADocumentedEMFMetric(t *testing.T) {
	hooks := reflect.TypeFor[metrics.Hooks]()
	for i := range hooks.NumMethod() {
		name := hooks.Method(i).Name
		sample, ok := hookSamples[name]
		if !ok {
			t.Errorf("hook %s has no sample here: add one (and its EMF metric)", name)
			continue
		}
		w := &Writer{opts: Options{Pipeline: "p", Namespace: "n"}.withDefaults(), held: map[string]struct{}{}, progress: map[string]windowProgress{}}
		sample(w)
		d := decode(t, w)
		moved := 0
		for _, m := range MetricNames() {
			if v, _ := d[m].(float64); v != 0 {
				moved++
			}
		}
		if moved == 0 {
			t.Errorf("hook %s moves no EMF metric", name)
		}
	}
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([A-Z][A-Za-z0-9]+)` \\| (Count|Bytes|Seconds|Milliseconds|None) \\|")
	documented := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
		}
	}
	for _, d := range definitions {
		if unit, ok := documented[d.name]; !ok || unit != d.unit {
			t.Errorf("EMF metric %s (%s) is not in README.md's EMF table with its unit (found %q)", d.name, d.unit, unit)
		}
		delete(documented, d.name)
	}
	if len(documented) > 0 {
		t.Errorf("README.md's EMF table lists metrics the adapter does not write: %v", documented)
	}
}

// TestLagMetricsOnlyFromTheLockHolder: with no window lock held, a line
// carries no MaxWatermarkLag/MaxEmitLag at all (a 0 would read as "caught up").
func TestLagMetricsOnlyFromTheLockHolder(t *testing.T) {
	w := &Writer{opts: Options{Pipeline: "p", Namespace: "n"}.withDefaults(), held: map[string]struct{}{}, progress: map[string]windowProgress{}}
	w.WindowProgress("w", time.Now().Add(-time.Minute), time.Time{})
	d := decode(t, w)
	if _, ok := d["MaxWatermarkLag"]; !ok {
		t.Error("holder's line lacks MaxWatermarkLag")
	}
	if _, ok := d["MaxEmitLag"]; ok {
		t.Error("MaxEmitLag present although no emitted-through time was reported")
	}
	w.WindowProgress("w", time.Time{}, time.Time{})
	d = decode(t, w)
	for _, m := range []string{"MaxWatermarkLag", "MaxEmitLag"} {
		if _, ok := d[m]; ok {
			t.Errorf("%s present after the lock moved away", m)
		}
		if strings.Contains(string(mustJSON(t, d["_aws"])), `"`+m+`"`) {
			t.Errorf("%s still declared in the directive", m)
		}
	}
}

func decode(t *testing.T, w *Writer) map[string]any {
	t.Helper()
	line, err := w.line(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(line, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package prom

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/shardflow/shardflow/metrics"
)

// hookSamples calls each hook of metrics.Hooks once, by method name.
var hookSamples = map[string]func(metrics.Hooks){
	"RecordsRead":  func(h metrics.Hooks) { h.RecordsRead("s", 3, 30, 100) },
	"BatchAcked":   func(h metrics.Hooks) { h.BatchAcked("s", 3, time.Millisecond, nil) },
	"Checkpointed": func(h metrics.Hooks) { h.Checkpointed("s", time.Second) },
	"LeaseGained":  func(h metrics.Hooks) { h.LeaseGained("s") },
	"LeaseLost":    func(h metrics.Hooks) { h.LeaseLost("s", metrics.LeaseExpired) },
	"RowsOut":      func(h metrics.Hooks) { h.RowsOut("o", 3) },
	"FirehoseCall": func(h metrics.Hooks) {
		h.FirehoseCall("f", metrics.FirehoseCall{Records: 1, PayloadBytes: 10, BilledBytes: 5120})
	},
	"DeadLetter":     func(h metrics.Hooks) { h.DeadLetter("invalid_json: x", 1) },
	"RedisCall":      func(h metrics.Hooks) { h.RedisCall("op", time.Millisecond, errors.New("x")) },
	"WindowFlush":    func(h metrics.Hooks) { h.WindowFlush("w", 2) },
	"WindowEmit":     func(h metrics.Hooks) { h.WindowEmit("w", 2) },
	"LateRows":       func(h metrics.Hooks) { h.LateRows("w", 1, metrics.LateDrop) },
	"WindowProgress": func(h metrics.Hooks) { h.WindowProgress("w", time.Unix(100, 0), time.Unix(60, 0)) },
	"WindowHeld":     func(h metrics.Hooks) { h.WindowHeld("w", "s", metrics.HeldStalled) },
	"S3Upload":       func(h metrics.Hooks) { h.S3Upload("lake", metrics.S3Upload{Rows: 2, Bytes: 20}) },
	"S3Retry":        func(h metrics.Hooks) { h.S3Retry("lake") },
	"LookupCache":    func(h metrics.Hooks) { h.LookupCache("user:{user_id}", 4, 3) },
	"LeaseAcquired":  func(h metrics.Hooks) { h.LeaseAcquired("s", metrics.AcquiredHandoff) },
	"LeaseGroup":     func(h metrics.Hooks) { h.LeaseGroup([]metrics.WorkerLeases{{Worker: "w", Held: 2}}, 1.5) },
	"InputSkipped":   func(h metrics.Hooks) { h.InputSkipped("csv_header", 2) },
	"SourceError":    func(h metrics.Hooks) { h.SourceError("GetRecords", "ExpiredIteratorException") },
}

// TestEveryHookHasADocumentedMetric is the metrics reference's guard: every
// hook of metrics.Hooks must move at least one shardflow_* family, and
// every family must be in README.md's metrics table. A hook added without a
// metric, or a metric without a README row, fails here.
func TestEveryHookHasADocumentedMetric(t *testing.T) {
	readme := readmeMetricNames(t)
	hooks := reflect.TypeFor[metrics.Hooks]()
	for i := range hooks.NumMethod() {
		name := hooks.Method(i).Name
		sample, ok := hookSamples[name]
		if !ok {
			t.Errorf("hook %s has no sample here: add one, and its metric to README.md", name)
			continue
		}
		m := newMetrics(t)
		before := families(t, m)
		sample(m)
		changed := 0
		for fam, text := range families(t, m) {
			if before[fam] == text {
				continue
			}
			changed++
			if !readme[fam] {
				t.Errorf("hook %s moves %s, which README.md's metrics table does not list", name, fam)
			}
		}
		if changed == 0 {
			t.Errorf("hook %s moves no shardflow_* metric", name)
		}
	}
	// And nothing in the README table that the adapter does not expose.
	m := newMetrics(t)
	exerciseAll(m)
	exposed := families(t, m)
	var stale []string
	for name := range readme {
		if _, ok := exposed[name]; !ok {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("README.md lists metrics the adapter does not expose: %v", stale)
	}
}

// families renders each shardflow_* family in the text format.
func families(t *testing.T, m *Metrics) map[string]string {
	t.Helper()
	got, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range got {
		if !strings.HasPrefix(f.GetName(), Namespace+"_") {
			continue
		}
		var b strings.Builder
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
		out[f.GetName()] = b.String()
	}
	return out
}

// readmeMetricNames returns the metric names in the first column of the
// README's Prometheus metrics table (rows "| `shardflow_...` | ...").
func readmeMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(shardflow_[a-z0-9_]+)` \\|")
	names := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("README.md has no metrics table rows")
	}
	return names
}

func TestNewHooksSeries(t *testing.T) {
	m := newMetrics(t)
	wm := time.Date(2026, 11, 22, 10, 0, 30, 500_000_000, time.UTC)
	m.WindowProgress("views_1m", wm, time.Time{})
	f := scrape(t, m)
	if v := value(t, f, "shardflow_window_watermark_timestamp_seconds", "op", "views_1m"); v != 1795341630.5 {
		t.Errorf("watermark gauge = %v", v)
	}
	absent(t, f, "shardflow_window_emitted_through_timestamp_seconds", "op", "views_1m")
	m.WindowProgress("views_1m", wm.Add(time.Second), wm.Add(-30*time.Second))
	f = scrape(t, m)
	if v := value(t, f, "shardflow_window_emitted_through_timestamp_seconds", "op", "views_1m"); v != 1795341600.5 {
		t.Errorf("emitted-through gauge = %v", v)
	}
	// The lock moved to another task: this one stops reporting.
	m.WindowProgress("views_1m", time.Time{}, time.Time{})
	f = scrape(t, m)
	absent(t, f, "shardflow_window_watermark_timestamp_seconds", "op", "views_1m")
	absent(t, f, "shardflow_window_emitted_through_timestamp_seconds", "op", "views_1m")
	m.WindowProgress("views_1m", wm.Add(5*time.Second), time.Time{})
	if v := value(t, scrape(t, m), "shardflow_window_watermark_timestamp_seconds", "op", "views_1m"); v != 1795341635.5 {
		t.Errorf("watermark gauge after the lock came back = %v", v)
	}

	m.S3Upload("lake", metrics.S3Upload{Rows: 100, Bytes: 4096, Parts: 0})
	m.S3Upload("lake", metrics.S3Upload{Rows: 50, Bytes: 2048, Parts: 2})
	m.S3Upload("lake", metrics.S3Upload{Rows: 70, Bytes: 999, Err: errors.New("still failing")})
	m.S3Retry("lake")
	m.S3Retry("lake")
	m.LookupCache("enrich:user:{user_id}", 500, 450)
	m.LookupCache("enrich:user:{user_id}", 500, 500)
	f = scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shardflow_s3_objects_total", []string{"output", "lake"}, 2},
		{"shardflow_s3_bytes_total", []string{"output", "lake"}, 6144},
		{"shardflow_s3_rows_total", []string{"output", "lake"}, 150},
		{"shardflow_s3_upload_errors_total", []string{"output", "lake"}, 1},
		{"shardflow_s3_retries_total", []string{"output", "lake"}, 2},
		{"shardflow_lookup_cache_lookups_total", []string{"lookup", "enrich:user:{user_id}"}, 1000},
		{"shardflow_lookup_cache_hits_total", []string{"lookup", "enrich:user:{user_id}"}, 950},
	} {
		if got := value(t, f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

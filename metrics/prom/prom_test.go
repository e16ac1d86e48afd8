package prom

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shardflow/shardflow/metrics"
)

// scrape GETs the adapter's handler over HTTP and parses the text format,
// as Prometheus would.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// find returns the series of family name whose labels include want.
func find(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f, ok := fams[name]
	if !ok {
		return nil, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is a counter's or gauge's value, or a histogram's sample count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{"pipeline": "clicks"}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	m, ok := find(fams, name, want)
	if !ok {
		t.Fatalf("no series %s%v", name, want)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("series %s%v has no value", name, want)
	return 0
}

func absent(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	if _, ok := find(fams, name, want); ok {
		t.Errorf("series %s%v still exposed", name, want)
	}
}

func newMetrics(t testing.TB) *Metrics {
	t.Helper()
	m, err := New(Options{Pipeline: "clicks"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSeriesAfterHooks(t *testing.T) {
	m := newMetrics(t)
	var h metrics.Hooks = m
	errThrottled := errors.New("ServiceUnavailableException: Slow down.")

	h.LeaseGained("shardId-000")
	h.LeaseGained("shardId-001")
	h.RecordsRead("shardId-000", 100, 30_000, 1500)
	h.RecordsRead("shardId-000", 50, 15_000, 250) // the gauge keeps the latest
	h.RecordsRead("shardId-001", 7, 700, 0)
	h.BatchAcked("shardId-000", 100, 40*time.Millisecond, nil)
	h.BatchAcked("shardId-000", 50, 600*time.Millisecond, nil)
	h.BatchAcked("shardId-001", 7, time.Second, errors.New("output gave up"))
	h.Checkpointed("shardId-000", 3*time.Second)
	h.Checkpointed("shardId-000", 2*time.Second)
	h.RowsOut("events", 140)
	h.RowsOut("events", 10)
	h.FirehoseCall("clicks-events", metrics.FirehoseCall{
		Records: 3, PayloadBytes: 2_000_000, FailedRecords: 1, BilledBytes: 1_331_200, Latency: 80 * time.Millisecond,
	})
	h.FirehoseCall("clicks-events", metrics.FirehoseCall{
		Records: 1, PayloadBytes: 700_000, Attempt: 1, Latency: 30 * time.Millisecond, Err: errThrottled,
	})
	h.FirehoseCall("clicks-events", metrics.FirehoseCall{
		Records: 1, PayloadBytes: 700_000, BilledBytes: 701_440, Attempt: 2, Latency: 20 * time.Millisecond,
	})
	h.DeadLetter("invalid_json: unexpected end of input", 2)
	h.DeadLetter("invalid_json: bad escape", 1)
	h.DeadLetter("oversize_row: 2000000 bytes encoded", 1)
	h.DeadLetter("corrupt_kpl_aggregate", 4)
	h.RedisCall("checkpoint", 2*time.Millisecond, nil)
	h.RedisCall("checkpoint", 3*time.Millisecond, errors.New("i/o timeout"))
	h.RedisCall("lease_renew", time.Millisecond, nil)
	h.WindowFlush("views_1m", 12)
	h.WindowFlush("views_1m", 8)
	h.WindowEmit("views_1m", 30)
	h.LateRows("views_1m", 5, metrics.LateDrop)
	h.LateRows("views_1m", 2, metrics.LateDeadLetter)
	h.LateRows("views_1m", 1, metrics.LateDrop)

	f := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"shardflow_records_read_total", []string{"shard", "shardId-000"}, 150},
		{"shardflow_records_read_total", []string{"shard", "shardId-001"}, 7},
		{"shardflow_bytes_read_total", []string{"shard", "shardId-000"}, 45_000},
		{"shardflow_behind_latest_seconds", []string{"shard", "shardId-000"}, 0.25},
		{"shardflow_behind_latest_seconds", []string{"shard", "shardId-001"}, 0},
		{"shardflow_records_acked_total", []string{"shard", "shardId-000"}, 150},
		{"shardflow_records_acked_total", []string{"shard", "shardId-001"}, 0},
		{"shardflow_batches_failed_total", []string{"shard", "shardId-000"}, 0},
		{"shardflow_batches_failed_total", []string{"shard", "shardId-001"}, 1},
		{"shardflow_batch_ack_duration_seconds", nil, 2}, // failed batches are not observed
		{"shardflow_checkpoints_total", []string{"shard", "shardId-000"}, 2},
		{"shardflow_checkpoints_total", []string{"shard", "shardId-001"}, 0}, // created by LeaseGained
		{"shardflow_shard_checkpoint_lag_seconds", []string{"shard", "shardId-000"}, 2},
		{"shardflow_checkpoint_lag_seconds", nil, 2},
		{"shardflow_leases_held", nil, 2},
		{"shardflow_leases_gained_total", nil, 2},
		{"shardflow_output_rows_total", []string{"output", "events"}, 150},
		{"shardflow_firehose_calls_total", []string{"stream", "clicks-events"}, 3},
		{"shardflow_firehose_call_errors_total", []string{"stream", "clicks-events"}, 1},
		{"shardflow_firehose_retries_total", []string{"stream", "clicks-events"}, 2},
		{"shardflow_firehose_records_total", []string{"stream", "clicks-events"}, 5},
		{"shardflow_firehose_failed_records_total", []string{"stream", "clicks-events"}, 2},
		{"shardflow_firehose_payload_bytes_total", []string{"stream", "clicks-events"}, 3_400_000},
		{"shardflow_firehose_billed_bytes_total", []string{"stream", "clicks-events"}, 1_331_200 + 701_440},
		{"shardflow_firehose_call_duration_seconds", []string{"stream", "clicks-events"}, 3},
		{"shardflow_dead_letter_rows_total", []string{"reason", "invalid_json"}, 3},
		{"shardflow_dead_letter_rows_total", []string{"reason", "oversize_row"}, 1},
		{"shardflow_dead_letter_rows_total", []string{"reason", "corrupt_kpl_aggregate"}, 4},
		{"shardflow_redis_call_duration_seconds", []string{"op", "checkpoint"}, 2},
		{"shardflow_redis_errors_total", []string{"op", "checkpoint"}, 1},
		{"shardflow_redis_errors_total", []string{"op", "lease_renew"}, 0},
		{"shardflow_window_flushes_total", []string{"op", "views_1m"}, 2},
		{"shardflow_window_flushed_keys_total", []string{"op", "views_1m"}, 20},
		{"shardflow_window_emissions_total", []string{"op", "views_1m"}, 1},
		{"shardflow_window_emitted_rows_total", []string{"op", "views_1m"}, 30},
		{"shardflow_late_rows_total", []string{"op", "views_1m", "action", "drop"}, 6},
		{"shardflow_late_rows_total", []string{"op", "views_1m", "action", "dead_letter"}, 2},
	} {
		if got := value(t, f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// Histogram sums and buckets land where the observations say.
	ack, _ := find(f, "shardflow_batch_ack_duration_seconds", nil)
	if s := ack.Histogram.GetSampleSum(); math.Abs(s-0.64) > 1e-9 {
		t.Errorf("batch ack sum = %v, want 0.64", s)
	}
	fh, _ := find(f, "shardflow_firehose_call_duration_seconds", nil)
	if got := cumulative(fh, 0.025); got != 1 { // the 20 ms call
		t.Errorf("firehose calls ≤ 25 ms = %v, want 1", got)
	}
	if got := cumulative(fh, 0.1); got != 3 {
		t.Errorf("firehose calls ≤ 100 ms = %v, want 3", got)
	}
	lag, _ := find(f, "shardflow_checkpoint_lag_seconds", nil)
	if got := cumulative(lag, 2.5); got != 1 {
		t.Errorf("checkpoint lags ≤ 2.5 s = %v, want 1", got)
	}
	last := value(t, f, "shardflow_last_checkpoint_timestamp_seconds", "shard", "shardId-000")
	if now := float64(time.Now().Unix()); last < now-60 || last > now+1 {
		t.Errorf("last checkpoint timestamp = %v, now %v", last, now)
	}
	// A shard's gauges exist only once they have a value.
	absent(t, f, "shardflow_shard_checkpoint_lag_seconds", "shard", "shardId-001")
	absent(t, f, "shardflow_last_checkpoint_timestamp_seconds", "shard", "shardId-001")
	// Types as declared in the package documentation.
	for name, typ := range map[string]dto.MetricType{
		"shardflow_records_read_total":             dto.MetricType_COUNTER,
		"shardflow_behind_latest_seconds":          dto.MetricType_GAUGE,
		"shardflow_leases_held":                    dto.MetricType_GAUGE,
		"shardflow_firehose_call_duration_seconds": dto.MetricType_HISTOGRAM,
		"shardflow_redis_call_duration_seconds":    dto.MetricType_HISTOGRAM,
		"shardflow_checkpoint_lag_seconds":         dto.MetricType_HISTOGRAM,
	} {
		if got := f[name].GetType(); got != typ {
			t.Errorf("%s type = %v, want %v", name, got, typ)
		}
	}
	// Its own registry carries the runtime collectors.
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("go_goroutines not exposed")
	}
}

// cumulative is a histogram's count of observations ≤ le.
func cumulative(m *dto.Metric, le float64) float64 {
	for _, b := range m.Histogram.Bucket {
		if b.GetUpperBound() == le {
			return float64(b.GetCumulativeCount())
		}
	}
	return math.NaN()
}

// TestDocumentedMetrics checks that the table in doc.go lists exactly the
// shardflow_* families the adapter exposes, with their types and labels.
func TestDocumentedMetrics(t *testing.T) {
	m := newMetrics(t)
	exerciseAll(m)
	f := scrape(t, m)
	var exposed []string
	for name, fam := range f {
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		labels := map[string]bool{}
		for _, s := range fam.Metric {
			for _, l := range s.Label {
				if l.GetName() != "pipeline" {
					labels[l.GetName()] = true
				}
			}
		}
		var ls []string
		for l := range labels {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		lab := strings.Join(ls, ", ")
		if lab == "" {
			lab = "-"
		}
		exposed = append(exposed, fmt.Sprintf("%s %s %s", name, strings.ToLower(fam.GetType().String()), lab))
	}
	sort.Strings(exposed)
	documented := documentedTable(t)
	sort.Strings(documented)
	if strings.Join(exposed, "\n") != strings.Join(documented, "\n") {
		t.Errorf("doc.go table and exposed metrics differ\nexposed:\n%s\ndocumented:\n%s",
			strings.Join(exposed, "\n"), strings.Join(documented, "\n"))
	}
}

// documentedTable reads "name type labels" from the metric table in doc.go.
func documentedTable(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(src), "\n") {
		fields := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(fields) < 3 || !strings.HasPrefix(fields[0], Namespace+"_") {
			continue
		}
		labels := []string{strings.TrimSuffix(fields[2], ",")}
		for i := 2; strings.HasSuffix(fields[i], ",") && i+1 < len(fields); i++ { // "op, action"
			labels = append(labels, strings.TrimSuffix(fields[i+1], ","))
		}
		sort.Strings(labels)
		rows = append(rows, fmt.Sprintf("%s %s %s", fields[0], fields[1], strings.Join(labels, ", ")))
	}
	if len(rows) == 0 {
		t.Fatal("no metric table found in doc.go")
	}
	return rows
}

// exerciseAll calls every hook once.
func exerciseAll(h metrics.Hooks) {
	h.LeaseGained("s")
	h.RecordsRead("s", 1, 1, 1)
	h.BatchAcked("s", 1, time.Millisecond, nil)
	h.Checkpointed("s", time.Second)
	h.LeaseGained("t")
	h.LeaseLost("t", metrics.LeaseReleased)
	h.RowsOut("o", 1)
	h.FirehoseCall("f", metrics.FirehoseCall{Records: 1})
	h.DeadLetter("r: x", 1)
	h.RedisCall("op", time.Millisecond, nil)
	h.WindowFlush("w", 1)
	h.WindowEmit("w", 1)
	h.LateRows("w", 1, metrics.LateDrop)
	h.WindowProgress("w", time.Unix(100, 0), time.Unix(60, 0))
	h.WindowHeld("w", "s", metrics.HeldBehind)
	h.S3Upload("lake", metrics.S3Upload{Rows: 1, Bytes: 1})
	h.S3Retry("lake")
	h.LookupCache("user:{user_id}", 2, 1)
	h.LeaseAcquired("s", metrics.AcquiredFree)
	h.LeaseGroup([]metrics.WorkerLeases{{Worker: "w", Held: 1}}, 1)
	h.SourceError("GetRecords", "ExpiredIteratorException")
	h.InputSkipped("csv_header", 1)
}

// TestLeaseGroupDropsWorkersThatLeft: a worker no longer in the group loses
// its lease_group_held series; balance and worker count follow each call.
func TestLeaseGroupDropsWorkersThatLeft(t *testing.T) {
	m := newMetrics(t)
	m.LeaseGroup([]metrics.WorkerLeases{{Worker: "a", Held: 3}, {Worker: "b", Held: 3}, {Worker: "c", Held: 2}}, 9.0/8)
	m.LeaseGroup([]metrics.WorkerLeases{{Worker: "a", Held: 4}, {Worker: "b", Held: 4}}, 1)
	f := scrape(t, m)
	held := map[string]float64{}
	for _, mt := range f[Namespace+"_lease_group_held"].GetMetric() {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "member" {
				held[l.GetValue()] = mt.GetGauge().GetValue()
			}
		}
	}
	if len(held) != 2 || held["a"] != 4 || held["b"] != 4 {
		t.Errorf("lease_group_held = %v, want a=4 b=4 (c left)", held)
	}
	if v := f[Namespace+"_lease_group_workers"].GetMetric()[0].GetGauge().GetValue(); v != 2 {
		t.Errorf("lease_group_workers = %v, want 2", v)
	}
	if v := f[Namespace+"_lease_balance_ratio"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("lease_balance_ratio = %v, want 1", v)
	}
}

func TestLeaseLostDropsShardSeries(t *testing.T) {
	m := newMetrics(t)
	m.LeaseGained("shardId-000")
	m.LeaseGained("shardId-001")
	m.LeaseGained("shardId-001") // idempotent
	for _, s := range []string{"shardId-000", "shardId-001"} {
		m.RecordsRead(s, 10, 100, 5000)
		m.BatchAcked(s, 10, time.Millisecond, nil)
		m.Checkpointed(s, time.Second)
	}
	f := scrape(t, m)
	if got := value(t, f, "shardflow_leases_held"); got != 2 {
		t.Fatalf("leases held = %v, want 2", got)
	}

	m.LeaseLost("shardId-001", metrics.LeaseExpired)
	f = scrape(t, m)
	if got := value(t, f, "shardflow_leases_held"); got != 1 {
		t.Errorf("leases held = %v, want 1", got)
	}
	if got := value(t, f, "shardflow_leases_lost_total", "reason", "expired"); got != 1 {
		t.Errorf("leases lost (expired) = %v, want 1", got)
	}
	for _, name := range []string{
		"shardflow_records_read_total", "shardflow_bytes_read_total", "shardflow_behind_latest_seconds",
		"shardflow_records_acked_total", "shardflow_batches_failed_total", "shardflow_checkpoints_total",
		"shardflow_shard_checkpoint_lag_seconds", "shardflow_last_checkpoint_timestamp_seconds",
	} {
		absent(t, f, name, "shard", "shardId-001")
		if _, ok := find(f, name, map[string]string{"shard": "shardId-000"}); !ok {
			t.Errorf("%s{shard=shardId-000} gone with the other shard's lease", name)
		}
	}

	// A late ack after the loss brings the counters back, never the stale
	// MillisBehindLatest gauge.
	m.BatchAcked("shardId-001", 3, time.Millisecond, nil)
	f = scrape(t, m)
	absent(t, f, "shardflow_behind_latest_seconds", "shard", "shardId-001")
	if got := value(t, f, "shardflow_records_acked_total", "shard", "shardId-001"); got != 3 {
		t.Errorf("records acked after re-creation = %v, want 3", got)
	}

	// Losing a lease never gained, twice, keeps the gauge at the truth.
	m.LeaseLost("shardId-009", metrics.LeaseFenced)
	m.LeaseLost("shardId-001", metrics.LeaseReleased)
	f = scrape(t, m)
	if got := value(t, f, "shardflow_leases_held"); got != 1 {
		t.Errorf("leases held = %v, want 1", got)
	}
}

func TestLeaseGainedCreatesCountersOnly(t *testing.T) {
	m := newMetrics(t)
	m.LeaseGained("shardId-007")
	f := scrape(t, m)
	for _, name := range []string{"shardflow_records_read_total", "shardflow_records_acked_total", "shardflow_checkpoints_total"} {
		if got := value(t, f, name, "shard", "shardId-007"); got != 0 {
			t.Errorf("%s = %v, want 0", name, got)
		}
	}
	absent(t, f, "shardflow_behind_latest_seconds", "shard", "shardId-007")
	absent(t, f, "shardflow_last_checkpoint_timestamp_seconds", "shard", "shardId-007")
}

func TestLabelLimitAndOddValues(t *testing.T) {
	m := newMetrics(t)
	for i := range labelLimit + 50 {
		m.DeadLetter(fmt.Sprintf("code_%03d: detail", i), 1)
	}
	m.RecordsRead("bad-\xff-shard", 1, 1, 0) // invalid UTF-8 must not panic
	m.RowsOut("", 1)
	f := scrape(t, m)
	fam := f["shardflow_dead_letter_rows_total"]
	if n := len(fam.Metric); n != labelLimit+1 {
		t.Errorf("dead-letter series = %d, want %d (limit + other)", n, labelLimit+1)
	}
	if got := value(t, f, "shardflow_dead_letter_rows_total", "reason", overflowValue); got != 50 {
		t.Errorf("overflow reason = %v, want 50", got)
	}
	if got := value(t, f, "shardflow_dead_letter_rows_total", "reason", "code_000"); got != 1 {
		t.Errorf("code_000 = %v, want 1", got)
	}
	if got := value(t, f, "shardflow_records_read_total", "shard", "bad-\uFFFD-shard"); got != 1 {
		t.Errorf("sanitized shard = %v, want 1", got)
	}
	if got := value(t, f, "shardflow_output_rows_total", "output", "none"); got != 1 {
		t.Errorf("empty output name = %v, want 1", got)
	}
}

func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(Options{Pipeline: "clicks", Registry: reg, ConstLabels: prometheus.Labels{"worker": "w1"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Registry() != reg {
		t.Fatal("Registry() is not the given registry")
	}
	m.RowsOut("events", 4)
	f := scrape(t, m)
	if _, ok := find(f, "shardflow_output_rows_total", map[string]string{"pipeline": "clicks", "worker": "w1", "output": "events"}); !ok {
		t.Error("const labels missing")
	}
	if _, ok := f["go_goroutines"]; ok {
		t.Error("runtime collectors added to a caller's registry")
	}
	// A second adapter for the same pipeline in the same registry collides.
	if _, err := New(Options{Pipeline: "clicks", Registry: reg, ConstLabels: prometheus.Labels{"worker": "w1"}}); err == nil {
		t.Error("duplicate registration succeeded")
	}
	if _, err := New(Options{}); err == nil {
		t.Error("missing pipeline accepted")
	}
}

// TestConcurrentHooks runs hooks, lease changes and scrapes at once (run
// with -race) and checks that no increment of a held shard is lost.
func TestConcurrentHooks(t *testing.T) {
	m := newMetrics(t)
	const workers, calls = 4, 2000
	for w := range workers {
		m.LeaseGained(fmt.Sprintf("shardId-%d", w))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			shard := fmt.Sprintf("shardId-%d", w)
			for range calls {
				m.RecordsRead(shard, 1, 10, 0)
				m.BatchAcked(shard, 1, time.Millisecond, nil)
				m.FirehoseCall("s", metrics.FirehoseCall{Records: 1})
				m.RedisCall("checkpoint", time.Millisecond, nil)
			}
		})
	}
	wg.Go(func() { // a shard that comes and goes meanwhile
		for range 200 {
			m.LeaseGained("shardId-churn")
			m.RecordsRead("shardId-churn", 1, 1, 1)
			m.LeaseLost("shardId-churn", metrics.LeaseReleased)
		}
	})
	wg.Go(func() {
		for range 5 {
			if _, err := m.Registry().Gather(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	f := scrape(t, m)
	for w := range workers {
		if got := value(t, f, "shardflow_records_read_total", "shard", fmt.Sprintf("shardId-%d", w)); got != calls {
			t.Errorf("shard %d records = %v, want %d", w, got, calls)
		}
	}
	if got := value(t, f, "shardflow_firehose_calls_total", "stream", "s"); got != workers*calls {
		t.Errorf("firehose calls = %v, want %d", got, workers*calls)
	}
	if got := value(t, f, "shardflow_leases_held"); got != workers {
		t.Errorf("leases held = %v, want %d", got, workers)
	}
	absent(t, f, "shardflow_records_read_total", "shard", "shardId-churn")
}

// TestHotHooksDoNotAllocate: a hook call for a label value seen before
// allocates nothing, directly and through metrics.Join.
func TestHotHooksDoNotAllocate(t *testing.T) {
	m := newMetrics(t)
	errCall := errors.New("throttled")
	// Label values from a buffer, as a shard id from a KCL input would be.
	buf := []byte("shardId-000000000001 checkpoint clicks-events invalid_json views_1m events")
	shard, op, stream, window, output := string(buf[:20]), string(buf[21:31]), string(buf[32:45]), string(buf[59:67]), string(buf[68:])
	reason := "invalid_json: unexpected end of input"
	joined := metrics.Join(m, metrics.Nop{}, metrics.Join(m))
	for name, h := range map[string]metrics.Hooks{"prom": m, "joined": joined} {
		hot := map[string]func(){
			"RecordsRead":  func() { h.RecordsRead(shard, 500, 150_000, 1200) },
			"BatchAcked":   func() { h.BatchAcked(shard, 500, 80*time.Millisecond, nil) },
			"BatchFailed":  func() { h.BatchAcked(shard, 500, time.Second, errCall) },
			"Checkpointed": func() { h.Checkpointed(shard, 2*time.Second) },
			"RowsOut":      func() { h.RowsOut(output, 500) },
			"FirehoseCall": func() {
				h.FirehoseCall(stream, metrics.FirehoseCall{Records: 4, PayloadBytes: 3_000_000, BilledBytes: 3_010_560, Latency: 50 * time.Millisecond})
			},
			"FirehoseErr": func() { h.FirehoseCall(stream, metrics.FirehoseCall{Records: 4, Attempt: 1, Err: errCall}) },
			"DeadLetter":  func() { h.DeadLetter(reason, 1) },
			"RedisCall":   func() { h.RedisCall(op, time.Millisecond, nil) },
			"WindowFlush": func() { h.WindowFlush(window, 12) },
			"WindowEmit":  func() { h.WindowEmit(window, 12) },
			"LateRows":    func() { h.LateRows(window, 3, metrics.LateDrop) },
		}
		for hook, call := range hot {
			call() // first sight of the label value may allocate
			if n := testing.AllocsPerRun(200, call); n != 0 {
				t.Errorf("%s %s: %v allocations per call, want 0", name, hook, n)
			}
		}
	}
}

func BenchmarkRecordsRead(b *testing.B) {
	m := newMetrics(b)
	m.RecordsRead("shardId-000000000001", 1, 1, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.RecordsRead("shardId-000000000001", 500, 150_000, 1200)
		}
	})
}

func BenchmarkFirehoseCall(b *testing.B) {
	m := newMetrics(b)
	c := metrics.FirehoseCall{Records: 4, PayloadBytes: 3_000_000, BilledBytes: 3_010_560, Latency: 50 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.FirehoseCall("clicks-events", c)
	}
}

// TestWindowHeldKeepsOneSeriesPerOperator: held_by names the shard holding
// the watermark now; a new holder (or reason) replaces the series, none
// (a quiet stream, the lock elsewhere) removes it.
func TestWindowHeldKeepsOneSeriesPerOperator(t *testing.T) {
	m := newMetrics(t)
	const name = "shardflow_window_watermark_held_by"
	m.WindowHeld("views_1m", "shard-1", metrics.HeldBehind)
	m.WindowHeld("clicks_1m", "shard-2", metrics.HeldEventTime)
	f := scrape(t, m)
	if v := value(t, f, name, "op", "views_1m", "shard", "shard-1", "reason", "behind"); v != 1 {
		t.Errorf("held_by views_1m shard-1 behind = %v, want 1", v)
	}
	m.WindowHeld("views_1m", "shard-3", metrics.HeldStalled)
	f = scrape(t, m)
	absent(t, f, name, "op", "views_1m", "shard", "shard-1")
	if v := value(t, f, name, "op", "views_1m", "shard", "shard-3", "reason", "stalled"); v != 1 {
		t.Errorf("held_by views_1m shard-3 stalled = %v, want 1", v)
	}
	if n := len(f[name].GetMetric()); n != 2 {
		t.Errorf("%d held_by series, want one per operator (2)", n)
	}
	m.WindowHeld("views_1m", "", "")
	f = scrape(t, m)
	absent(t, f, name, "op", "views_1m")
	if v := value(t, f, name, "op", "clicks_1m", "shard", "shard-2", "reason", "event_time"); v != 1 {
		t.Errorf("held_by clicks_1m = %v after views_1m's went, want 1", v)
	}
	if n := testing.AllocsPerRun(100, func() { m.WindowHeld("clicks_1m", "shard-2", metrics.HeldEventTime) }); n != 0 {
		t.Errorf("a repeated WindowHeld allocates %v times", n)
	}
}

package prom

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shardflow/shardflow/metrics"
)

// Namespace prefixes every metric name.
const Namespace = "shardflow"

// labelLimit bounds the distinct values of every label but shard; values
// past it are reported as "other". Shard series are bounded by the leases
// held, since LeaseLost drops them.
const labelLimit = 100

// Histogram buckets, in seconds.
var (
	// FirehoseBuckets: a PutRecordBatch call takes tens to hundreds of
	// milliseconds; seconds mean throttling or a slow network.
	FirehoseBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// RedisBuckets: a round trip within a VPC is sub-millisecond to a few
	// milliseconds; a window flush script may take tens.
	RedisBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	// AckBuckets: hand-over to ack spans decode, linger (500 ms by
	// default) and the Firehose call, and grows under retries.
	AckBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// CheckpointLagBuckets: seconds when caught up, minutes to hours when
	// catching up or stuck.
	CheckpointLagBuckets = []float64{.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
)

// Options configure New.
type Options struct {
	// Pipeline is the value of the constant "pipeline" label on every
	// series. Required.
	Pipeline string
	// ConstLabels are added to every series besides pipeline (a worker or
	// task id, say). Prometheus' target labels usually make this needless.
	ConstLabels prometheus.Labels
	// Registry receives the metrics. Nil: a new registry that also holds
	// the Go runtime and process collectors.
	Registry *prometheus.Registry
}

// Metrics implements metrics.Hooks with Prometheus metrics. Create it with
// New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	// per shard
	shards        *series[string, *shardSeries]
	ckpts         *series[string, *ckptSeries]
	behind        *series[string, prometheus.Gauge]
	recordsRead   *prometheus.CounterVec
	bytesRead     *prometheus.CounterVec
	behindLatest  *prometheus.GaugeVec
	recordsAcked  *prometheus.CounterVec
	batchesFailed *prometheus.CounterVec
	checkpoints   *prometheus.CounterVec
	shardLag      *prometheus.GaugeVec
	lastCkpt      *prometheus.GaugeVec
	ackLatency    prometheus.Observer
	ckptLag       prometheus.Observer

	// leases
	leaseMu      sync.Mutex
	held         map[string]struct{}
	leasesHeld   prometheus.Gauge
	leasesGained prometheus.Counter
	leasesLost   *series[string, prometheus.Counter]
	sourceMetrics

	// outputs
	rowsOut   *series[string, prometheus.Counter]
	streams   *series[string, *streamSeries]
	deadRows  *series[string, prometheus.Counter]
	skipped   *series[string, prometheus.Counter]
	redisOps  *series[string, *redisSeries]
	windowOps *series[string, *windowSeries]
	lateRows  *series[opAction, prometheus.Counter]

	// window progress (the emitter lock holder only)
	progress       *series[string, *progressSeries]
	watermark      *prometheus.GaugeVec
	emittedThrough *prometheus.GaugeVec
	heldBy         *prometheus.GaugeVec
	heldMu         sync.Mutex
	heldOps        map[string]*heldSeries // by operator

	// direct S3 outputs, Redis lookup caches
	s3Outputs *series[string, *s3Series]
	lookups   *series[string, *lookupSeries]
}

// A shard's gauges are created by the hook that sets them (behind: its
// first read; ckptSeries: its first checkpoint), so that none exists as a
// misleading 0 before there is a value, nor comes back (after LeaseLost)
// from a late ack.
type shardSeries struct {
	recordsRead, bytesRead, recordsAcked, failed prometheus.Counter
}

type ckptSeries struct {
	ckpts         prometheus.Counter
	lag, lastCkpt prometheus.Gauge
}

type streamSeries struct {
	calls, errors, retries, records, failed, payload, billed prometheus.Counter
	latency                                                  prometheus.Observer
}

type redisSeries struct {
	errors  prometheus.Counter
	latency prometheus.Observer
}

type windowSeries struct {
	flushes, keys, emits, rows prometheus.Counter
}

// progressSeries are an operator's gauges; like a shard's, each appears
// with its first value and goes when the emitter stops holding the lock.
type progressSeries struct {
	watermark, emitted prometheus.Gauge // nil until the first value; guarded by the series' lock
}

// heldSeries is the one held_by series of an operator.
type heldSeries struct {
	shard, reason string
	gauge         prometheus.Gauge
}

type s3Series struct {
	objects, bytes, rows, errors, retries prometheus.Counter
}

type lookupSeries struct {
	lookups, hits prometheus.Counter
}

var _ metrics.Hooks = (*Metrics)(nil)

// New creates the metrics and registers them.
func New(o Options) (*Metrics, error) {
	if o.Pipeline == "" {
		return nil, fmt.Errorf("prom: Options.Pipeline is required")
	}
	constLabels := prometheus.Labels{"pipeline": o.Pipeline}
	for k, v := range o.ConstLabels {
		constLabels[k] = v
	}
	m := &Metrics{reg: o.Registry, held: map[string]struct{}{}}
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var all []prometheus.Collector
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: name, Help: help, ConstLabels: constLabels,
		}, labels)
		all = append(all, v)
		return v
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: name, Help: help, ConstLabels: constLabels,
		}, labels)
		all = append(all, v)
		return v
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: name, Help: help, ConstLabels: constLabels, Buckets: buckets,
		}, labels)
		all = append(all, v)
		return v
	}

	// Source, per shard.
	m.recordsRead = counter("records_read_total", "Kinesis records handed over to the pipeline.", "shard")
	m.bytesRead = counter("bytes_read_total", "Payload bytes of the Kinesis records handed over.", "shard")
	m.behindLatest = gauge("behind_latest_seconds", "Kinesis MillisBehindLatest of the shard's latest read, in seconds.", "shard")
	m.recordsAcked = counter("records_acked_total", "Records whose batch every output acked (durable, checkpointable).", "shard")
	m.batchesFailed = counter("batches_failed_total", "Batches acked with an error: an output gave up, the shard's checkpoint stops.", "shard")
	m.checkpoints = counter("checkpoints_total", "Checkpoint writes.", "shard")
	m.shardLag = gauge("shard_checkpoint_lag_seconds", "Lag of the shard's latest checkpoint: write time minus the checkpointed record's arrival time.", "shard")
	m.lastCkpt = gauge("last_checkpoint_timestamp_seconds", "Unix time of the shard's latest checkpoint write.", "shard")
	m.ackLatency = histogram("batch_ack_duration_seconds", "Time from a batch's hand-over to its successful ack.", AckBuckets).WithLabelValues()
	m.ckptLag = histogram("checkpoint_lag_seconds", "Checkpoint lag at each checkpoint write, all shards.", CheckpointLagBuckets).WithLabelValues()
	m.shards = newSeries(0, "", strings.Clone, func(shard string) *shardSeries {
		l := labelValue(shard)
		return &shardSeries{
			recordsRead:  m.recordsRead.WithLabelValues(l),
			bytesRead:    m.bytesRead.WithLabelValues(l),
			recordsAcked: m.recordsAcked.WithLabelValues(l),
			failed:       m.batchesFailed.WithLabelValues(l),
		}
	})
	m.behind = newSeries(0, "", strings.Clone, func(shard string) prometheus.Gauge {
		return m.behindLatest.WithLabelValues(labelValue(shard))
	})
	m.ckpts = newSeries(0, "", strings.Clone, func(shard string) *ckptSeries {
		l := labelValue(shard)
		return &ckptSeries{
			ckpts:    m.checkpoints.WithLabelValues(l),
			lag:      m.shardLag.WithLabelValues(l),
			lastCkpt: m.lastCkpt.WithLabelValues(l),
		}
	})

	// Leases.
	m.leasesHeld = gauge("leases_held", "Shard leases this worker holds.").WithLabelValues()
	m.leasesGained = counter("leases_gained_total", "Shard leases taken.").WithLabelValues()
	lost := counter("leases_lost_total", "Shard leases given up or lost, by reason (released, handed_over, shard_end, expired, fenced, reader_failed).", "reason")
	m.leasesLost = newSeries(labelLimit, overflowValue, strings.Clone, func(reason string) prometheus.Counter {
		return lost.WithLabelValues(labelValue(reason))
	})

	m.initSource(counter, gauge)

	// Outputs.
	rows := counter("output_rows_total", "Rows handed to an output.", "output")
	m.rowsOut = newSeries(labelLimit, overflowValue, strings.Clone, func(output string) prometheus.Counter {
		return rows.WithLabelValues(labelValue(output))
	})
	fhCalls := counter("firehose_calls_total", "PutRecordBatch calls (attempts, resends included).", "stream")
	fhErrors := counter("firehose_call_errors_total", "PutRecordBatch calls that failed as a whole (throttled, network, 5xx).", "stream")
	fhRetries := counter("firehose_retries_total", "PutRecordBatch calls that resent records an earlier call failed.", "stream")
	fhRecords := counter("firehose_records_total", "Firehose records sent (a record packs many rows; resends counted again).", "stream")
	fhFailed := counter("firehose_failed_records_total", "Firehose records rejected, inside a call or by a failed call; they are resent.", "stream")
	fhPayload := counter("firehose_payload_bytes_total", "Bytes of Firehose record data sent (resends counted again).", "stream")
	fhBilled := counter("firehose_billed_bytes_total", "Billed bytes of the records Firehose accepted (each rounded up to 5 KiB).", "stream")
	fhLatency := histogram("firehose_call_duration_seconds", "Duration of a PutRecordBatch call.", FirehoseBuckets, "stream")
	m.streams = newSeries(labelLimit, overflowValue, strings.Clone, func(stream string) *streamSeries {
		l := labelValue(stream)
		return &streamSeries{
			calls: fhCalls.WithLabelValues(l), errors: fhErrors.WithLabelValues(l),
			retries: fhRetries.WithLabelValues(l), records: fhRecords.WithLabelValues(l),
			failed: fhFailed.WithLabelValues(l), payload: fhPayload.WithLabelValues(l),
			billed: fhBilled.WithLabelValues(l), latency: fhLatency.WithLabelValues(l),
		}
	})
	dead := counter("dead_letter_rows_total", "Rows written to the dead-letter output, by reason code.", "reason")
	m.deadRows = newSeries(labelLimit, overflowValue, strings.Clone, func(reason string) prometheus.Counter {
		return dead.WithLabelValues(labelValue(reason))
	})
	skipped := counter("input_skipped_total", "Inputs that carried no row and were not bad (CloudWatch Logs control messages, CSV headers, empty lines), by reason.", "reason")
	m.skipped = newSeries(labelLimit, overflowValue, strings.Clone, func(reason string) prometheus.Counter {
		return skipped.WithLabelValues(labelValue(reason))
	})

	// State.
	redisLatency := histogram("redis_call_duration_seconds", "Duration of a Redis round trip (command, script or pipeline).", RedisBuckets, "op")
	redisErrors := counter("redis_errors_total", "Redis round trips that failed.", "op")
	m.redisOps = newSeries(labelLimit, overflowValue, strings.Clone, func(op string) *redisSeries {
		l := labelValue(op)
		return &redisSeries{errors: redisErrors.WithLabelValues(l), latency: redisLatency.WithLabelValues(l)}
	})
	flushes := counter("window_flushes_total", "Flushes of a shard's partial aggregates applied to Redis.", "op")
	keys := counter("window_flushed_keys_total", "Redis keys written by window flushes.", "op")
	emits := counter("window_emissions_total", "Emissions of closed windows acked by the sink.", "op")
	emitted := counter("window_emitted_rows_total", "Result rows of emitted windows.", "op")
	m.windowOps = newSeries(labelLimit, overflowValue, strings.Clone, func(op string) *windowSeries {
		l := labelValue(op)
		return &windowSeries{
			flushes: flushes.WithLabelValues(l), keys: keys.WithLabelValues(l),
			emits: emits.WithLabelValues(l), rows: emitted.WithLabelValues(l),
		}
	})
	late := counter("late_rows_total", "Rows that arrived after their window was emitted, by action (drop, dead_letter, update).", "op", "action")
	m.lateRows = newSeries(labelLimit, opAction{overflowValue, overflowValue}, cloneOpAction, func(k opAction) prometheus.Counter {
		return late.WithLabelValues(labelValue(k.op), labelValue(k.action))
	})

	m.watermark = gauge("window_watermark_timestamp_seconds", "Unix time of the window operator's global watermark (reported by the task holding the emitter lock).", "op")
	m.emittedThrough = gauge("window_emitted_through_timestamp_seconds", "Unix time through which the operator's windows are emitted (reported by the task holding the emitter lock).", "op")
	m.progress = newSeries(labelLimit, overflowValue, strings.Clone, func(string) *progressSeries { return &progressSeries{} })
	m.heldBy = gauge("window_watermark_held_by", "1 for the shard holding the window operator's global watermark, with why: event_time, behind, stalled, no_owner, unread (reported by the task holding the emitter lock; absent when no shard holds it).", "op", "shard", "reason")
	m.heldOps = map[string]*heldSeries{}

	// Direct S3 outputs.
	s3Objects := counter("s3_objects_total", "Parquet files a direct S3 output uploaded.", "output")
	s3Bytes := counter("s3_bytes_total", "Bytes of the Parquet files uploaded.", "output")
	s3Rows := counter("s3_rows_total", "Rows in the Parquet files uploaded.", "output")
	s3Errors := counter("s3_upload_errors_total", "Files given up on after retry_timeout (their rows are not checkpointed).", "output")
	s3Retries := counter("s3_retries_total", "S3 calls (PutObject, multipart parts) that failed and were retried.", "output")
	m.s3Outputs = newSeries(labelLimit, overflowValue, strings.Clone, func(output string) *s3Series {
		l := labelValue(output)
		return &s3Series{
			objects: s3Objects.WithLabelValues(l), bytes: s3Bytes.WithLabelValues(l), rows: s3Rows.WithLabelValues(l),
			errors: s3Errors.WithLabelValues(l), retries: s3Retries.WithLabelValues(l),
		}
	})

	// Redis lookup caches.
	lookups := counter("lookup_cache_lookups_total", "Keys a Redis lookup looked up in its in-process cache (one per row with a key).", "lookup")
	hits := counter("lookup_cache_hits_total", "Of those, keys the cache served (found or known missing) without Redis.", "lookup")
	m.lookups = newSeries(labelLimit, overflowValue, strings.Clone, func(lookup string) *lookupSeries {
		l := labelValue(lookup)
		return &lookupSeries{lookups: lookups.WithLabelValues(l), hits: hits.WithLabelValues(l)}
	})

	for _, c := range all {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("prom: register: %w", err)
		}
	}
	return m, nil
}

// Registry returns the registry holding the metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats, for
// /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) RecordsRead(shard string, records, bytes int, millisBehind int64) {
	s := m.shards.get(shard)
	s.recordsRead.Add(float64(records))
	s.bytesRead.Add(float64(bytes))
	m.behind.get(shard).Set(float64(millisBehind) / 1000)
}

func (m *Metrics) BatchAcked(shard string, records int, latency time.Duration, err error) {
	s := m.shards.get(shard)
	if err != nil {
		s.failed.Inc()
		return
	}
	s.recordsAcked.Add(float64(records))
	m.ackLatency.Observe(latency.Seconds())
}

func (m *Metrics) Checkpointed(shard string, lag time.Duration) {
	s := m.ckpts.get(shard)
	s.ckpts.Inc()
	s.lag.Set(lag.Seconds())
	s.lastCkpt.SetToCurrentTime()
	m.ckptLag.Observe(lag.Seconds())
}

// LeaseGained counts the lease and creates the shard's counters at 0, so
// that rate() sees their first increment.
func (m *Metrics) LeaseGained(shard string) {
	m.leasesGained.Inc()
	m.leaseMu.Lock()
	m.held[strings.Clone(shard)] = struct{}{}
	m.leasesHeld.Set(float64(len(m.held)))
	m.leaseMu.Unlock()
	l := labelValue(strings.Clone(shard))
	for _, v := range []*prometheus.CounterVec{m.recordsRead, m.bytesRead, m.recordsAcked, m.batchesFailed, m.checkpoints} {
		v.WithLabelValues(l)
	}
}

// LeaseLost counts the loss and drops the shard's series: a shard this
// worker no longer owns must not keep reporting its last MillisBehindLatest,
// and series of shards that moved (or ended) must not pile up. Counters
// that reappear when the lease comes back restart from zero, which rate()
// and increase() treat as a reset.
func (m *Metrics) LeaseLost(shard, reason string) {
	m.leasesLost.get(reason).Inc()
	m.leaseMu.Lock()
	delete(m.held, shard)
	m.leasesHeld.Set(float64(len(m.held)))
	m.leaseMu.Unlock()
	l := labelValue(shard)
	// Lock order: shards, ckpts, behind; get never holds two locks.
	m.shards.remove(shard, func() {
		m.ckpts.remove(shard, func() {
			m.behind.remove(shard, func() {
				for _, v := range []interface{ DeleteLabelValues(...string) bool }{
					m.recordsRead, m.bytesRead, m.behindLatest, m.recordsAcked,
					m.batchesFailed, m.checkpoints, m.shardLag, m.lastCkpt,
				} {
					v.DeleteLabelValues(l)
				}
			})
		})
	})
}

func (m *Metrics) RowsOut(output string, rows int) {
	m.rowsOut.get(output).Add(float64(rows))
}

func (m *Metrics) FirehoseCall(stream string, c metrics.FirehoseCall) {
	s := m.streams.get(stream)
	s.calls.Inc()
	if c.Attempt > 0 {
		s.retries.Inc()
	}
	s.records.Add(float64(c.Records))
	s.payload.Add(float64(c.PayloadBytes))
	s.latency.Observe(c.Latency.Seconds())
	if c.Err != nil {
		s.errors.Inc()
		s.failed.Add(float64(c.Records))
		return
	}
	s.failed.Add(float64(c.FailedRecords))
	s.billed.Add(float64(c.BilledBytes))
}

func (m *Metrics) DeadLetter(reason string, n int) {
	m.deadRows.get(metrics.ReasonCode(reason)).Add(float64(n))
}

func (m *Metrics) InputSkipped(reason string, n int) {
	m.skipped.get(reason).Add(float64(n))
}

func (m *Metrics) RedisCall(op string, latency time.Duration, err error) {
	s := m.redisOps.get(op)
	s.latency.Observe(latency.Seconds())
	if err != nil {
		s.errors.Inc()
	}
}

func (m *Metrics) WindowFlush(op string, keys int) {
	s := m.windowOps.get(op)
	s.flushes.Inc()
	s.keys.Add(float64(keys))
}

func (m *Metrics) WindowEmit(op string, rows int) {
	s := m.windowOps.get(op)
	s.emits.Inc()
	s.rows.Add(float64(rows))
}

func (m *Metrics) LateRows(op string, n int, action string) {
	m.lateRows.get(opAction{op, action}).Add(float64(n))
}

// WindowProgress sets the operator's watermark and emitted-through gauges,
// or drops them when the emitter does not hold the lock (both zero), so
// that a task that lost the lock does not keep reporting a stale value.
func (m *Metrics) WindowProgress(op string, watermark, emittedThrough time.Time) {
	if watermark.IsZero() && emittedThrough.IsZero() {
		l := labelValue(op)
		m.progress.remove(op, func() {
			m.watermark.DeleteLabelValues(l)
			m.emittedThrough.DeleteLabelValues(l)
		})
		return
	}
	s := m.progress.get(op)
	m.progress.mu.Lock() // gauges are created under the cache's lock, as remove deletes them
	defer m.progress.mu.Unlock()
	l := labelValue(op)
	if !watermark.IsZero() {
		if s.watermark == nil {
			s.watermark = m.watermark.WithLabelValues(l)
		}
		s.watermark.Set(float64(watermark.UnixMicro()) / 1e6)
	}
	if !emittedThrough.IsZero() {
		if s.emitted == nil {
			s.emitted = m.emittedThrough.WithLabelValues(l)
		}
		s.emitted.Set(float64(emittedThrough.UnixMicro()) / 1e6)
	}
}

// WindowHeld keeps one held_by series per operator: the shard holding its
// watermark now, or none (shard "": a quiet stream, no data yet, or the
// lock is held elsewhere). A call that repeats the last one allocates
// nothing.
func (m *Metrics) WindowHeld(op, shard, reason string) {
	m.heldMu.Lock()
	defer m.heldMu.Unlock()
	h := m.heldOps[op]
	if h != nil && h.shard == shard && h.reason == reason {
		return
	}
	if h != nil {
		m.heldBy.DeleteLabelValues(labelValue(op), labelValue(h.shard), labelValue(h.reason))
		delete(m.heldOps, op)
	}
	if shard == "" {
		return
	}
	if _, ok := m.heldOps[op]; !ok && len(m.heldOps) >= labelLimit {
		op = overflowValue
	}
	h = &heldSeries{shard: strings.Clone(shard), reason: strings.Clone(reason)}
	op = strings.Clone(op)
	h.gauge = m.heldBy.WithLabelValues(labelValue(op), labelValue(h.shard), labelValue(h.reason))
	h.gauge.Set(1)
	m.heldOps[op] = h
}

func (m *Metrics) S3Upload(output string, u metrics.S3Upload) {
	s := m.s3Outputs.get(output)
	if u.Err != nil {
		s.errors.Inc()
		return
	}
	s.objects.Inc()
	s.bytes.Add(float64(u.Bytes))
	s.rows.Add(float64(u.Rows))
}

func (m *Metrics) S3Retry(output string) { m.s3Outputs.get(output).retries.Inc() }

func (m *Metrics) LookupCache(lookup string, lookups, hits int) {
	s := m.lookups.get(lookup)
	s.lookups.Add(float64(lookups))
	s.hits.Add(float64(hits))
}

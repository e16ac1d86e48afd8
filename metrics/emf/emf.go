package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// Defaults of Options.
const (
	DefaultNamespace = "shardflow"
	DefaultInterval  = time.Minute
)

// Options configure New.
type Options struct {
	// Pipeline is the value of the pipeline dimension. Required.
	Pipeline string
	// Namespace is the CloudWatch namespace; default DefaultNamespace.
	Namespace string
	// Interval between lines; default DefaultInterval (CloudWatch's
	// standard resolution).
	Interval time.Duration
	// Output receives one JSON line per interval; default os.Stdout.
	// Writes come from one goroutine, never concurrently.
	Output io.Writer
	// Logger receives write errors; default slog.Default().
	Logger *slog.Logger
}

type kind int

const (
	kindSum  kind = iota // added up, reset every interval
	kindMax              // largest value seen, reset every interval
	kindLast             // current value, kept
	kindLag              // now − a reported time, the largest over window operators; omitted when none reported
)

type metricID int

const (
	recordsRead metricID = iota
	bytesRead
	maxBehind
	recordsAcked
	batchesFailed
	checkpoints
	maxCkptLag
	leasesHeld
	leasesLost
	outputRows
	fhCalls
	fhErrors
	fhRetries
	fhRecords
	fhFailed
	fhPayload
	fhBilled
	fhMaxLatency
	deadRows
	redisCalls
	redisErrors
	redisMaxLatency
	windowFlushes
	windowRows
	lateRows
	leasesAcquired
	leaseTakeovers
	leaseBalance
	sourceErrors
	inputSkipped
	windowEmissions
	maxWatermarkLag
	maxEmitLag
	heldWatermarks
	s3Objects
	s3Bytes
	s3Rows
	s3UploadErrors
	s3Retries
	lookupCacheLookups
	lookupCacheHits
	numMetrics
)

// definitions, in metricID order. Values are kept as integers; scale
// converts a stored value (a duration in ms or µs) to the reported unit.
var definitions = [numMetrics]struct {
	name, unit string
	kind       kind
	scale      float64 // reported value = stored / scale
}{
	recordsRead:     {"RecordsRead", "Count", kindSum, 1},
	bytesRead:       {"BytesRead", "Bytes", kindSum, 1},
	maxBehind:       {"MaxMillisBehindLatest", "Milliseconds", kindMax, 1},
	recordsAcked:    {"RecordsAcked", "Count", kindSum, 1},
	batchesFailed:   {"BatchesFailed", "Count", kindSum, 1},
	checkpoints:     {"Checkpoints", "Count", kindSum, 1},
	maxCkptLag:      {"MaxCheckpointLag", "Seconds", kindMax, 1000}, // stored in ms
	leasesHeld:      {"LeasesHeld", "Count", kindLast, 1},
	leasesLost:      {"LeasesLost", "Count", kindSum, 1},
	outputRows:      {"OutputRows", "Count", kindSum, 1},
	fhCalls:         {"FirehoseCalls", "Count", kindSum, 1},
	fhErrors:        {"FirehoseCallErrors", "Count", kindSum, 1},
	fhRetries:       {"FirehoseRetries", "Count", kindSum, 1},
	fhRecords:       {"FirehoseRecords", "Count", kindSum, 1},
	fhFailed:        {"FirehoseFailedRecords", "Count", kindSum, 1},
	fhPayload:       {"FirehosePayloadBytes", "Bytes", kindSum, 1},
	fhBilled:        {"FirehoseBilledBytes", "Bytes", kindSum, 1},
	fhMaxLatency:    {"MaxFirehoseCallLatency", "Milliseconds", kindMax, 1000}, // stored in µs
	deadRows:        {"DeadLetterRows", "Count", kindSum, 1},
	redisCalls:      {"RedisCalls", "Count", kindSum, 1},
	redisErrors:     {"RedisErrors", "Count", kindSum, 1},
	redisMaxLatency: {"MaxRedisLatency", "Milliseconds", kindMax, 1000}, // stored in µs
	windowFlushes:   {"WindowFlushes", "Count", kindSum, 1},
	windowRows:      {"WindowEmittedRows", "Count", kindSum, 1},
	lateRows:        {"LateRows", "Count", kindSum, 1},
	leasesAcquired:  {"LeasesAcquired", "Count", kindSum, 1},
	leaseTakeovers:  {"LeaseTakeovers", "Count", kindSum, 1},
	leaseBalance:    {"LeaseBalance", "None", kindLast, 1000}, // stored ×1000
	sourceErrors:    {"SourceErrors", "Count", kindSum, 1},
	inputSkipped:    {"InputSkipped", "Count", kindSum, 1},
	windowEmissions: {"WindowEmissions", "Count", kindSum, 1},
	maxWatermarkLag: {"MaxWatermarkLag", "Seconds", kindLag, 1},
	maxEmitLag:      {"MaxEmitLag", "Seconds", kindLag, 1},
	heldWatermarks:  {"WatermarksHeldByStuckShards", "Count", kindLast, 1},
	s3Objects:       {"S3Objects", "Count", kindSum, 1},
	s3Bytes:         {"S3Bytes", "Bytes", kindSum, 1},
	s3Rows:          {"S3Rows", "Count", kindSum, 1},
	s3UploadErrors:  {"S3UploadErrors", "Count", kindSum, 1},
	s3Retries:       {"S3Retries", "Count", kindSum, 1},

	lookupCacheLookups: {"LookupCacheLookups", "Count", kindSum, 1},
	lookupCacheHits:    {"LookupCacheHits", "Count", kindSum, 1},
}

// MetricNames lists the metric names a line carries, in order (the lag
// metrics only while an emitter of this process holds a window's lock).
func MetricNames() []string {
	names := make([]string, len(definitions))
	for i, d := range definitions {
		names[i] = d.name
	}
	return names
}

// Writer implements metrics.Hooks by aggregating into atomics and writing
// one EMF line per interval from its own goroutine. Create it with New and
// stop it with Close.
type Writer struct {
	opts   Options
	log    *slog.Logger
	values [numMetrics]atomic.Int64

	leaseMu sync.Mutex
	held    map[string]struct{}

	// progress is each window operator's latest watermark and
	// emitted-through time, while this process's emitter holds its lock.
	progressMu sync.Mutex
	progress   map[string]windowProgress

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ metrics.Hooks = (*Writer)(nil)

// New starts a writer.
func New(o Options) (*Writer, error) {
	if o.Pipeline == "" {
		return nil, errors.New("emf: Options.Pipeline is required")
	}
	o = o.withDefaults()
	w := &Writer{opts: o, log: o.Logger, held: map[string]struct{}{}, progress: map[string]windowProgress{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop() // owned: ends on Close
	return w, nil
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Output == nil {
		o.Output = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.flush()
		case <-w.stop:
			w.flush()
			return
		}
	}
}

// Close stops the writer after writing a last line, or returns ctx's error
// if that takes longer than ctx allows.
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("emf: close: %w", ctx.Err())
	}
}

// flush writes the interval's line and resets the sums and maxima.
func (w *Writer) flush() {
	line, err := w.line(time.Now())
	if err == nil {
		_, err = w.opts.Output.Write(line)
	}
	if err != nil {
		w.log.Warn("emf: writing metrics", "err", err)
	}
}

// line builds one EMF document from the current values and resets them.
func (w *Writer) line(now time.Time) ([]byte, error) {
	type metricDef struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string      `json:"Namespace"`
		Dimensions [][]string  `json:"Dimensions"`
		Metrics    []metricDef `json:"Metrics"`
	}
	doc := map[string]any{"pipeline": w.opts.Pipeline}
	defs := make([]metricDef, 0, numMetrics)
	wmLag, emitLag := w.lags(now)
	for id, d := range definitions {
		var v float64
		switch d.kind {
		case kindSum, kindMax:
			v = float64(w.values[id].Swap(0)) / d.scale
		case kindLast:
			v = float64(w.values[id].Load()) / d.scale
		case kindLag:
			lag := wmLag
			if id == int(maxEmitLag) {
				lag = emitLag
			}
			if lag < 0 {
				continue // no window operator's lock held here: nothing to say
			}
			v = lag
		}
		defs = append(defs, metricDef{d.name, d.unit})
		doc[d.name] = v
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []directive{{
			Namespace: w.opts.Namespace, Dimensions: [][]string{{"pipeline"}}, Metrics: defs,
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one line, newline-terminated
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("emf: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// windowProgress is what WindowProgress and WindowHeld last reported for
// an operator: stuck when a shard that is not flowing holds its watermark.
type windowProgress struct {
	watermark, emitted time.Time
	stuck              bool
}

// countStuck sets WatermarksHeldByStuckShards; under progressMu.
func (w *Writer) countStuck() {
	n := 0
	for _, p := range w.progress {
		if p.stuck {
			n++
		}
	}
	w.values[heldWatermarks].Store(int64(n))
}

// lags returns the largest now − watermark and now − emitted-through over
// the operators whose lock this process holds, in seconds; -1 for none.
func (w *Writer) lags(now time.Time) (wm, emitted float64) {
	wm, emitted = -1, -1
	w.progressMu.Lock()
	defer w.progressMu.Unlock()
	for _, p := range w.progress {
		if !p.watermark.IsZero() {
			wm = max(wm, max(now.Sub(p.watermark).Seconds(), 0))
		}
		if !p.emitted.IsZero() {
			emitted = max(emitted, max(now.Sub(p.emitted).Seconds(), 0))
		}
	}
	return wm, emitted
}

func (w *Writer) add(id metricID, n int64) { w.values[id].Add(n) }

func (w *Writer) raise(id metricID, v int64) {
	a := &w.values[id]
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (w *Writer) RecordsRead(_ string, records, bytes int, millisBehind int64) {
	w.add(recordsRead, int64(records))
	w.add(bytesRead, int64(bytes))
	w.raise(maxBehind, millisBehind)
}

func (w *Writer) BatchAcked(_ string, records int, _ time.Duration, err error) {
	if err != nil {
		w.add(batchesFailed, 1)
		return
	}
	w.add(recordsAcked, int64(records))
}

func (w *Writer) Checkpointed(_ string, lag time.Duration) {
	w.add(checkpoints, 1)
	w.raise(maxCkptLag, lag.Milliseconds())
}

func (w *Writer) LeaseGained(shard string) {
	w.leaseMu.Lock()
	defer w.leaseMu.Unlock()
	w.held[strings.Clone(shard)] = struct{}{}
	w.values[leasesHeld].Store(int64(len(w.held)))
}

func (w *Writer) LeaseLost(shard, _ string) {
	w.add(leasesLost, 1)
	w.leaseMu.Lock()
	defer w.leaseMu.Unlock()
	delete(w.held, shard)
	w.values[leasesHeld].Store(int64(len(w.held)))
}

func (w *Writer) RowsOut(_ string, rows int) { w.add(outputRows, int64(rows)) }

func (w *Writer) FirehoseCall(_ string, c metrics.FirehoseCall) {
	w.add(fhCalls, 1)
	if c.Attempt > 0 {
		w.add(fhRetries, 1)
	}
	w.add(fhRecords, int64(c.Records))
	w.add(fhPayload, int64(c.PayloadBytes))
	w.raise(fhMaxLatency, c.Latency.Microseconds())
	if c.Err != nil {
		w.add(fhErrors, 1)
		w.add(fhFailed, int64(c.Records))
		return
	}
	w.add(fhFailed, int64(c.FailedRecords))
	w.add(fhBilled, int64(c.BilledBytes))
}

func (w *Writer) DeadLetter(_ string, n int) { w.add(deadRows, int64(n)) }

// InputSkipped counts input that carried no row and was not bad.
func (w *Writer) InputSkipped(_ string, n int) { w.add(inputSkipped, int64(n)) }

func (w *Writer) RedisCall(_ string, latency time.Duration, err error) {
	w.add(redisCalls, 1)
	if err != nil {
		w.add(redisErrors, 1)
	}
	w.raise(redisMaxLatency, latency.Microseconds())
}

func (w *Writer) LeaseAcquired(_, how string) {
	w.add(leasesAcquired, 1)
	if how == metrics.AcquiredTakeover {
		w.add(leaseTakeovers, 1)
	}
}

func (w *Writer) LeaseGroup(_ []metrics.WorkerLeases, balance float64) {
	w.values[leaseBalance].Store(int64(balance * 1000))
}

func (w *Writer) SourceError(string, string) { w.add(sourceErrors, 1) }

func (w *Writer) WindowFlush(string, int) { w.add(windowFlushes, 1) }

func (w *Writer) WindowEmit(_ string, rows int) {
	w.add(windowEmissions, 1)
	w.add(windowRows, int64(rows))
}

func (w *Writer) LateRows(_ string, n int, _ string) { w.add(lateRows, int64(n)) }

// WindowProgress keeps the operator's times for the lag metrics; zero
// times (the lock is held elsewhere) forget the operator. It is called
// once per emission cycle, so the lock costs nothing that matters.
func (w *Writer) WindowProgress(op string, watermark, emittedThrough time.Time) {
	w.progressMu.Lock()
	defer w.progressMu.Unlock()
	if watermark.IsZero() && emittedThrough.IsZero() {
		delete(w.progress, op)
		w.countStuck()
		return
	}
	p, ok := w.progress[op]
	if !ok {
		op = strings.Clone(op)
	}
	p.watermark, p.emitted = watermark, emittedThrough
	w.progress[op] = p
}

// WindowHeld counts the operators (whose emitter lock this process holds)
// whose watermark a shard holds that is not flowing: behind, stalled,
// without owner, or unread. It is called once per emission cycle, after
// WindowProgress.
func (w *Writer) WindowHeld(op, shard, reason string) {
	w.progressMu.Lock()
	defer w.progressMu.Unlock()
	stuck := shard != "" && reason != metrics.HeldEventTime
	p, ok := w.progress[op]
	switch {
	case ok:
		p.stuck = stuck
		w.progress[op] = p
	case stuck:
		w.progress[strings.Clone(op)] = windowProgress{stuck: true}
	}
	w.countStuck()
}

func (w *Writer) S3Upload(_ string, u metrics.S3Upload) {
	if u.Err != nil {
		w.add(s3UploadErrors, 1)
		return
	}
	w.add(s3Objects, 1)
	w.add(s3Bytes, u.Bytes)
	w.add(s3Rows, int64(u.Rows))
}

func (w *Writer) S3Retry(string) { w.add(s3Retries, 1) }

func (w *Writer) LookupCache(_ string, lookups, hits int) {
	w.add(lookupCacheLookups, int64(lookups))
	w.add(lookupCacheHits, int64(hits))
}

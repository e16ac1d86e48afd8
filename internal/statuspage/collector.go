package statuspage

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// Defaults of Options.
const (
	DefaultStep      = 5 * time.Second
	DefaultWindow    = 10 * time.Minute
	DefaultMaxShards = 4096
)

// labelLimit bounds every table but the shards'; later values count under
// otherLabel.
const (
	labelLimit = 128
	otherLabel = "other"
)

// Options configure New.
type Options struct {
	// Pipeline and Worker name what the page shows.
	Pipeline, Worker string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Step is the width of a time bucket; default DefaultStep.
	Step time.Duration
	// Window is how much history each shard keeps (rounded up to whole
	// steps); default DefaultWindow. A shard whose lease was lost is
	// dropped once it has been silent for a whole window.
	Window time.Duration
	// MaxShards bounds the shards tracked at once; default
	// DefaultMaxShards. Hooks for further shards count in the totals only.
	MaxShards int
}

// Collector implements metrics.Hooks for the status page. Create it with
// New; it is safe for concurrent use and owns no goroutine.
type Collector struct {
	metrics.Nop // hooks added later are no-ops here

	opts    Options
	step    int64 // nanoseconds
	slots   int   // buckets per shard
	started time.Time

	recordsRead, bytesRead, recordsAcked, batchesFailed atomic.Int64
	checkpoints, leasesGained, untracked                atomic.Int64

	shardMu sync.RWMutex
	shards  map[string]*shard

	outputs  table[counter]
	streams  table[streamStats]
	reasons  table[counter]
	windows  table[windowStats]
	redisOps table[redisStats]

	groupMu sync.Mutex
	group   LeaseGroup
}

var _ metrics.Hooks = (*Collector)(nil)

// New returns a Collector with no history.
func New(o Options) *Collector {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Step <= 0 {
		o.Step = DefaultStep
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxShards <= 0 {
		o.MaxShards = DefaultMaxShards
	}
	slots := int((o.Window + o.Step - 1) / o.Step)
	return &Collector{
		opts: o, step: int64(o.Step), slots: slots, started: o.Now(),
		shards: map[string]*shard{},
	}
}

// shard is one shard's state and history, under mu.
type shard struct {
	mu      sync.Mutex
	dropped bool // removed from the table: look the shard up again

	held       bool
	lostReason string // a metrics.Lease* constant
	since      int64  // unix ns of the last gain or loss
	lastBucket int64  // the latest period any hook wrote

	millisBehind, read, bytes, acked, failed int64
	checkpoints, lastCheckpoint              int64 // count, unix ns
	checkpointLag                            time.Duration

	ring []bucket // slots; ring[p % slots] holds period p when its period field says so
}

// bucket is one period of a shard.
type bucket struct {
	period         int64 // unix ns / step
	records, bytes int64
	reads          int64
	maxBehind      int64
}

// period returns the bucket period of t.
func (c *Collector) period(t time.Time) int64 { return t.UnixNano() / c.step }

// withShard runs fn on id's state under its lock, creating the state if
// needed (and allowed); it reports whether fn ran.
func (c *Collector) withShard(id string, create bool, fn func(s *shard, now time.Time)) bool {
	for {
		c.shardMu.RLock()
		s := c.shards[id]
		c.shardMu.RUnlock()
		if s == nil {
			if !create {
				return false
			}
			if s = c.addShard(id); s == nil {
				return false
			}
		}
		s.mu.Lock()
		if s.dropped {
			s.mu.Unlock()
			continue
		}
		fn(s, c.opts.Now())
		s.mu.Unlock()
		return true
	}
}

// addShard creates id's state, or returns nil when MaxShards are tracked.
func (c *Collector) addShard(id string) *shard {
	c.shardMu.Lock()
	defer c.shardMu.Unlock()
	if s := c.shards[id]; s != nil {
		return s
	}
	if len(c.shards) >= c.opts.MaxShards {
		c.untracked.Add(1)
		return nil
	}
	s := &shard{ring: make([]bucket, c.slots)}
	c.shards[strings.Clone(id)] = s // the caller's string may be part of a larger buffer
	return s
}

// bucket returns s's bucket for now, reset if it held an older period.
func (c *Collector) bucket(s *shard, now time.Time) *bucket {
	p := c.period(now)
	b := &s.ring[p%int64(c.slots)]
	if b.period != p {
		*b = bucket{period: p}
	}
	s.lastBucket = p
	return b
}

// RecordsRead implements metrics.Hooks.
func (c *Collector) RecordsRead(id string, records, bytes int, millisBehind int64) {
	c.recordsRead.Add(int64(records))
	c.bytesRead.Add(int64(bytes))
	c.withShard(id, true, func(s *shard, now time.Time) {
		s.read += int64(records)
		s.bytes += int64(bytes)
		s.millisBehind = millisBehind
		b := c.bucket(s, now)
		b.records += int64(records)
		b.bytes += int64(bytes)
		if b.reads == 0 || millisBehind > b.maxBehind {
			b.maxBehind = millisBehind
		}
		b.reads++
	})
}

// BatchAcked implements metrics.Hooks.
func (c *Collector) BatchAcked(id string, records int, _ time.Duration, err error) {
	if err != nil {
		c.batchesFailed.Add(1)
	} else {
		c.recordsAcked.Add(int64(records))
	}
	c.withShard(id, false, func(s *shard, _ time.Time) {
		if err != nil {
			s.failed++
		} else {
			s.acked += int64(records)
		}
	})
}

// Checkpointed implements metrics.Hooks.
func (c *Collector) Checkpointed(id string, lag time.Duration) {
	c.checkpoints.Add(1)
	c.withShard(id, false, func(s *shard, now time.Time) {
		s.checkpoints++
		s.lastCheckpoint = now.UnixNano()
		s.checkpointLag = lag
	})
}

// LeaseGained implements metrics.Hooks.
func (c *Collector) LeaseGained(id string) {
	c.leasesGained.Add(1)
	c.withShard(id, true, func(s *shard, now time.Time) {
		s.held, s.lostReason, s.since = true, "", now.UnixNano()
		s.lastBucket = c.period(now)
	})
}

// LeaseLost implements metrics.Hooks. The shard stays on the page, marked
// with the reason, until it has been silent for a whole window.
func (c *Collector) LeaseLost(id, reason string) {
	c.withShard(id, false, func(s *shard, now time.Time) {
		s.held, s.since = false, now.UnixNano()
		s.lostReason = leaseReason(reason)
		s.lastBucket = c.period(now)
	})
}

func (c *Collector) leaseGroup() LeaseGroup {
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	return LeaseGroup{Workers: append([]WorkerLeases{}, c.group.Workers...), Balance: c.group.Balance}
}

// leaseReason maps reason to its constant so that no caller's string is
// kept.
func leaseReason(r string) string {
	for _, k := range [...]string{metrics.LeaseReleased, metrics.LeaseHandedOver, metrics.LeaseShardEnd,
		metrics.LeaseExpired, metrics.LeaseFenced, metrics.LeaseReaderFailed} {
		if r == k {
			return k
		}
	}
	return otherLabel
}

// RowsOut implements metrics.Hooks.
func (c *Collector) RowsOut(output string, rows int) { c.outputs.get(output).n.Add(int64(rows)) }

// FirehoseCall implements metrics.Hooks.
func (c *Collector) FirehoseCall(stream string, fc metrics.FirehoseCall) {
	st := c.streams.get(stream)
	st.calls.Add(1)
	if fc.Attempt > 0 {
		st.retries.Add(1)
	}
	if fc.Err != nil {
		st.errors.Add(1)
		st.failedRecords.Add(int64(fc.Records))
		return
	}
	st.records.Add(int64(fc.Records - fc.FailedRecords))
	st.failedRecords.Add(int64(fc.FailedRecords))
	st.billedBytes.Add(int64(fc.BilledBytes))
}

// DeadLetter implements metrics.Hooks; reasons are kept by code.
func (c *Collector) DeadLetter(reason string, n int) {
	c.reasons.get(metrics.ReasonCode(reason)).n.Add(int64(n))
}

// RedisCall implements metrics.Hooks.
func (c *Collector) RedisCall(op string, _ time.Duration, err error) {
	r := c.redisOps.get(op)
	r.calls.Add(1)
	if err != nil {
		r.errors.Add(1)
	}
}

// WindowFlush implements metrics.Hooks.
func (c *Collector) WindowFlush(op string, keys int) {
	w := c.windows.get(op)
	w.flushes.Add(1)
	w.keys.Add(int64(keys))
}

// WindowEmit implements metrics.Hooks.
func (c *Collector) WindowEmit(op string, rows int) {
	w := c.windows.get(op)
	w.emits.Add(1)
	w.rows.Add(int64(rows))
}

// LateRows implements metrics.Hooks.
func (c *Collector) LateRows(op string, n int, action string) {
	w := c.windows.get(op)
	switch action {
	case metrics.LateDrop:
		w.lateDropped.Add(int64(n))
	case metrics.LateDeadLetter:
		w.lateDeadLettered.Add(int64(n))
	default:
		w.lateUpdated.Add(int64(n))
	}
}

type counter struct{ n atomic.Int64 }

type streamStats struct {
	calls, errors, retries, records, failedRecords, billedBytes atomic.Int64
}

type redisStats struct{ calls, errors atomic.Int64 }

type windowStats struct {
	flushes, keys, emits, rows                 atomic.Int64
	lateDropped, lateDeadLettered, lateUpdated atomic.Int64
}

// table is a bounded map from a label value to its counters.
type table[V any] struct {
	mu sync.RWMutex
	m  map[string]*V
}

// get returns key's counters, creating them on first sight (or those of
// otherLabel when the table is full).
func (t *table[V]) get(key string) *V {
	t.mu.RLock()
	v := t.m[key]
	t.mu.RUnlock()
	if v != nil {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v = t.m[key]; v != nil {
		return v
	}
	if t.m == nil {
		t.m = map[string]*V{}
	}
	if len(t.m) >= labelLimit {
		key = otherLabel
		if v = t.m[key]; v != nil {
			return v
		}
	}
	v = new(V)
	t.m[strings.Clone(key)] = v
	return v
}

// each calls fn for every entry, in key order.
func (t *table[V]) each(fn func(key string, v *V)) {
	t.mu.RLock()
	keys := make([]string, 0, len(t.m))
	for k := range t.m {
		keys = append(keys, k)
	}
	vals := make([]*V, 0, len(t.m))
	slices.Sort(keys)
	for _, k := range keys {
		vals = append(vals, t.m[k])
	}
	t.mu.RUnlock()
	for i, k := range keys {
		fn(k, vals[i])
	}
}

// Snapshot is what /status.json serves (besides readiness).
type Snapshot struct {
	Pipeline string    `json:"pipeline"`
	Worker   string    `json:"worker,omitempty"`
	Now      time.Time `json:"now"`
	Started  time.Time `json:"started"`
	// StepSeconds is the width of each series bucket; SeriesStart is the
	// start of the first bucket of every shard's series (the oldest).
	StepSeconds float64   `json:"step_seconds"`
	SeriesStart time.Time `json:"series_start"`

	Totals     Totals         `json:"totals"`
	Shards     []ShardStatus  `json:"shards"`
	Outputs    []OutputRows   `json:"outputs"`
	Firehose   []StreamStatus `json:"firehose"`
	DeadLetter []ReasonCount  `json:"dead_letters"`
	Windows    []WindowStatus `json:"windows"`
	Redis      []RedisStatus  `json:"redis"`
	// Leases is the group of workers as this one saw it last.
	Leases LeaseGroup `json:"leases"`
}

// LeaseGroup is the application's workers and the shards each holds.
type LeaseGroup struct {
	Workers []WorkerLeases `json:"workers"`
	// Balance is the busiest worker over the mean in the current plan.
	Balance float64 `json:"balance"`
}

// WorkerLeases is one live worker's share of the readable shards.
type WorkerLeases struct {
	Worker string `json:"worker"`
	Held   int    `json:"held"`
}

// LeaseGroup implements metrics.Hooks: it keeps a copy of the group.
func (c *Collector) LeaseGroup(workers []metrics.WorkerLeases, balance float64) {
	c.groupMu.Lock()
	defer c.groupMu.Unlock()
	if cap(c.group.Workers) < len(workers) {
		c.group.Workers = make([]WorkerLeases, 0, len(workers))
	}
	c.group.Workers = c.group.Workers[:0]
	for _, w := range workers {
		c.group.Workers = append(c.group.Workers, WorkerLeases{Worker: strings.Clone(w.Worker), Held: w.Held})
	}
	c.group.Balance = balance
}

// Totals are the worker's running totals since start.
type Totals struct {
	RecordsRead    int64 `json:"records_read"`
	BytesRead      int64 `json:"bytes_read"`
	RecordsAcked   int64 `json:"records_acked"`
	BatchesFailed  int64 `json:"batches_failed"`
	Checkpoints    int64 `json:"checkpoints"`
	LeasesHeld     int   `json:"leases_held"`
	LeasesGained   int64 `json:"leases_gained"`
	DeadLetters    int64 `json:"dead_letters"`
	WindowsEmitted int64 `json:"windows_emitted"`
	WindowRows     int64 `json:"window_rows"`
	LateRows       int64 `json:"late_rows"`
	// UntrackedShards counts hook calls for shards past MaxShards.
	UntrackedShards int64 `json:"untracked_shards,omitempty"`
}

// ShardStatus is one shard: its state, totals and per-bucket series, oldest
// first. MillisBehind[i] is nil for a bucket with no read.
type ShardStatus struct {
	ID                 string     `json:"id"`
	Held               bool       `json:"held"`
	LostReason         string     `json:"lost_reason,omitempty"`
	Since              time.Time  `json:"since"`
	MillisBehind       int64      `json:"millis_behind"`
	RecordsRead        int64      `json:"records_read"`
	BytesRead          int64      `json:"bytes_read"`
	RecordsAcked       int64      `json:"records_acked"`
	BatchesFailed      int64      `json:"batches_failed"`
	Checkpoints        int64      `json:"checkpoints"`
	LastCheckpoint     *time.Time `json:"last_checkpoint,omitempty"`
	CheckpointLagMS    float64    `json:"checkpoint_lag_ms"`
	RecordsPerSecond   []float64  `json:"records_per_second"`
	MillisBehindSeries []*int64   `json:"millis_behind_series"`
}

// OutputRows is the rows handed to one output.
type OutputRows struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// StreamStatus is one Firehose delivery stream's calls.
type StreamStatus struct {
	Stream        string `json:"stream"`
	Calls         int64  `json:"calls"`
	Errors        int64  `json:"errors"`
	Retries       int64  `json:"retries"`
	Records       int64  `json:"records"`
	FailedRecords int64  `json:"failed_records"`
	BilledBytes   int64  `json:"billed_bytes"`
}

// ReasonCount is the dead-letter rows of one reason code.
type ReasonCount struct {
	Reason string `json:"reason"`
	Rows   int64  `json:"rows"`
}

// WindowStatus is one window operator.
type WindowStatus struct {
	Op               string `json:"op"`
	Flushes          int64  `json:"flushes"`
	KeysFlushed      int64  `json:"keys_flushed"`
	Emits            int64  `json:"emits"`
	RowsEmitted      int64  `json:"rows_emitted"`
	LateDropped      int64  `json:"late_dropped"`
	LateDeadLettered int64  `json:"late_dead_lettered"`
	LateUpdated      int64  `json:"late_updated"`
}

// RedisStatus is one Redis operation's round trips.
type RedisStatus struct {
	Op     string `json:"op"`
	Calls  int64  `json:"calls"`
	Errors int64  `json:"errors"`
}

// Snapshot returns the current state. It drops shards that lost their lease
// and have been silent for a whole window.
func (c *Collector) Snapshot() Snapshot {
	now := c.opts.Now()
	cur := c.period(now)
	first := cur - int64(c.slots) + 1
	snap := Snapshot{
		Pipeline: c.opts.Pipeline, Worker: c.opts.Worker, Now: now.UTC(), Started: c.started.UTC(),
		StepSeconds: c.opts.Step.Seconds(), SeriesStart: time.Unix(0, first*c.step).UTC(),
		Totals: Totals{
			RecordsRead: c.recordsRead.Load(), BytesRead: c.bytesRead.Load(),
			RecordsAcked: c.recordsAcked.Load(), BatchesFailed: c.batchesFailed.Load(),
			Checkpoints: c.checkpoints.Load(), LeasesGained: c.leasesGained.Load(),
			UntrackedShards: c.untracked.Load(),
		},
		Shards: []ShardStatus{}, Outputs: []OutputRows{}, Firehose: []StreamStatus{},
		DeadLetter: []ReasonCount{}, Windows: []WindowStatus{}, Redis: []RedisStatus{},
		Leases: c.leaseGroup(),
	}

	c.shardMu.Lock()
	for id, s := range c.shards {
		s.mu.Lock()
		if !s.held && s.lastBucket < first {
			s.dropped = true
			delete(c.shards, id)
		} else {
			snap.Shards = append(snap.Shards, c.shardStatus(id, s, first))
		}
		s.mu.Unlock()
	}
	c.shardMu.Unlock()
	slices.SortFunc(snap.Shards, func(a, b ShardStatus) int { return cmp.Compare(a.ID, b.ID) })
	for _, s := range snap.Shards {
		if s.Held {
			snap.Totals.LeasesHeld++
		}
	}

	c.outputs.each(func(k string, v *counter) {
		snap.Outputs = append(snap.Outputs, OutputRows{Name: k, Rows: v.n.Load()})
	})
	c.streams.each(func(k string, v *streamStats) {
		snap.Firehose = append(snap.Firehose, StreamStatus{
			Stream: k, Calls: v.calls.Load(), Errors: v.errors.Load(), Retries: v.retries.Load(),
			Records: v.records.Load(), FailedRecords: v.failedRecords.Load(), BilledBytes: v.billedBytes.Load(),
		})
	})
	c.reasons.each(func(k string, v *counter) {
		n := v.n.Load()
		snap.DeadLetter = append(snap.DeadLetter, ReasonCount{Reason: k, Rows: n})
		snap.Totals.DeadLetters += n
	})
	c.windows.each(func(k string, v *windowStats) {
		w := WindowStatus{
			Op: k, Flushes: v.flushes.Load(), KeysFlushed: v.keys.Load(), Emits: v.emits.Load(),
			RowsEmitted: v.rows.Load(), LateDropped: v.lateDropped.Load(),
			LateDeadLettered: v.lateDeadLettered.Load(), LateUpdated: v.lateUpdated.Load(),
		}
		snap.Windows = append(snap.Windows, w)
		snap.Totals.WindowsEmitted += w.Emits
		snap.Totals.WindowRows += w.RowsEmitted
		snap.Totals.LateRows += w.LateDropped + w.LateDeadLettered + w.LateUpdated
	})
	c.redisOps.each(func(k string, v *redisStats) {
		snap.Redis = append(snap.Redis, RedisStatus{Op: k, Calls: v.calls.Load(), Errors: v.errors.Load()})
	})
	return snap
}

// shardStatus copies s (locked by the caller) with its series from period
// first onwards.
func (c *Collector) shardStatus(id string, s *shard, first int64) ShardStatus {
	st := ShardStatus{
		ID: id, Held: s.held, LostReason: s.lostReason, Since: time.Unix(0, s.since).UTC(),
		MillisBehind: s.millisBehind, RecordsRead: s.read, BytesRead: s.bytes, RecordsAcked: s.acked,
		BatchesFailed: s.failed, Checkpoints: s.checkpoints,
		CheckpointLagMS:    float64(s.checkpointLag.Microseconds()) / 1000,
		RecordsPerSecond:   make([]float64, c.slots),
		MillisBehindSeries: make([]*int64, c.slots),
	}
	if s.lastCheckpoint != 0 {
		t := time.Unix(0, s.lastCheckpoint).UTC()
		st.LastCheckpoint = &t
	}
	lags := make([]int64, c.slots)
	for i := range c.slots {
		p := first + int64(i)
		b := &s.ring[p%int64(c.slots)]
		if b.period != p || b.reads == 0 {
			continue
		}
		st.RecordsPerSecond[i] = float64(b.records) / c.opts.Step.Seconds()
		lags[i] = b.maxBehind
		st.MillisBehindSeries[i] = &lags[i]
	}
	return st
}

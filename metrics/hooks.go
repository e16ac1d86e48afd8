package metrics

import (
	"strings"
	"time"
)

// Hooks receives shardflow's measurements. Implementations should embed Nop
// so that a hook added later is a no-op for them rather than a compile
// error. See the package documentation for who calls each hook and the
// rules every implementation follows (no blocking, no per-call allocation,
// safe for concurrent use).
type Hooks interface {
	// RecordsRead reports one batch of a shard handed over to the
	// pipeline: its records, their payload bytes (sum of len(Data)) and
	// the shard's MillisBehindLatest from the GetRecords call. Call it for
	// empty reads too (records 0), so that the lag of a caught-up shard
	// drops to 0.
	RecordsRead(shard string, records, bytes int, millisBehind int64)
	// BatchAcked reports a handed-over batch whose ack fired, with the time
	// from hand-over to ack. err is the ack's error: non-nil means an
	// output gave up and the batch will not be checkpointed.
	BatchAcked(shard string, records int, latency time.Duration, err error)
	// Checkpointed reports a successful checkpoint write. lag is the time
	// from the checkpointed record's arrival in the stream
	// (ApproximateArrivalTimestamp) to the write.
	Checkpointed(shard string, lag time.Duration)
	// LeaseGained reports that this worker started processing a shard.
	LeaseGained(shard string)
	// LeaseLost reports that this worker stopped processing a shard; reason
	// is one of the Lease* constants. It should be the shard's last hook
	// call: adapters drop the shard's series.
	LeaseLost(shard string, reason string)

	// RowsOut reports rows handed to an output (by output name).
	RowsOut(output string, rows int)
	// FirehoseCall reports one PutRecordBatch attempt to a delivery stream.
	FirehoseCall(stream string, c FirehoseCall)
	// DeadLetter reports n rows written durably to the dead-letter output
	// with the given reason. The reason may be the full "<code>: <detail>"
	// text: adapters keep only the code (see ReasonCode).
	DeadLetter(reason string, n int)
	// InputSkipped reports n inputs that carried no row and were not bad,
	// by reason (decode's Skip* constants: a CloudWatch Logs control
	// message, a CSV header line, an empty line).
	InputSkipped(reason string, n int)

	// RedisCall reports one Redis round trip (a command, script or
	// pipeline) of the named operation, e.g. "checkpoint", "lease_renew",
	// "window_flush", "enrich_lookup".
	RedisCall(op string, latency time.Duration, err error)
	// WindowFlush reports one flush of a shard's partial aggregates for a
	// window operator applied to Redis, with the number of keys written.
	WindowFlush(op string, keys int)
	// WindowEmit reports one emission of closed windows acked by the sink.
	WindowEmit(op string, rows int)
	// LateRows reports n rows of an operator that arrived after their
	// window was emitted, and what was done with them (a Late* constant).
	LateRows(op string, n int, action string)

	// SourceHooks: lease assignment and the Kinesis source (source.go).
	SourceHooks
	// WindowProgress reports, once per emission cycle, the operator's
	// global watermark and the end through which its windows are emitted,
	// as the emitter holding the operator's lock computed them. Either is
	// zero when not known yet; both are zero from an emitter that does not
	// hold the lock (adapters then drop the operator's gauges, so that only
	// the holder reports).
	WindowProgress(op string, watermark, emittedThrough time.Time)
	// WindowHeld reports, once per emission cycle, the shard that holds
	// the operator's global watermark and why (a Held* constant), as the
	// emitter holding the operator's lock computed it. shard is "" when no
	// shard holds it (a quiet stream advances with wall time, or there is
	// no data yet) and from an emitter that does not hold the lock
	// (adapters then drop the operator's series).
	WindowHeld(op, shard, reason string)

	// S3Upload reports one file of a direct S3 output, by output name:
	// uploaded (u.Err nil; its rows may now be acked) or given up on.
	S3Upload(output string, u S3Upload)
	// S3Retry reports one S3 call of an output that failed and is retried.
	S3Retry(output string)

	// LookupCache reports one batch of a Redis lookup (named by its key
	// template, e.g. "enrich:user:{user_id}"): keys looked up in the
	// in-process cache (one per row with a key) and how many it served.
	LookupCache(lookup string, lookups, hits int)
}

// S3Upload describes one file of a direct S3 output.
type S3Upload struct {
	// Rows and Bytes are the file's rows and its size in bytes.
	Rows  int
	Bytes int64
	// Parts is the number of multipart upload parts (0: one PutObject).
	Parts int
	// Err is why the file was given up on (its writes ack with it), nil
	// when the upload succeeded.
	Err error
}

// FirehoseCall describes one PutRecordBatch attempt. A resend of the records
// Firehose failed is a new attempt with Attempt > 0.
type FirehoseCall struct {
	// Records and PayloadBytes are what the call sent (count, sum of the
	// records' data lengths).
	Records, PayloadBytes int
	// FailedRecords is how many of them Firehose rejected inside a
	// successful call (FailedPutCount). When Err is set, every record
	// failed whatever this says.
	FailedRecords int
	// BilledBytes is the billed size of the records Firehose accepted:
	// each rounded up to the 5 KiB billing increment.
	BilledBytes int
	// Attempt is 0 for the first send of these records, n for the n-th
	// resend.
	Attempt int
	// Latency is the duration of the call itself (not of the backoff).
	Latency time.Duration
	// Err is the error of the whole call (throttling, network, 5xx), nil
	// when Firehose answered.
	Err error
}

// Reasons a lease is lost, for LeaseLost.
const (
	// LeaseReleased: the worker gave the shard up (drain, shutdown,
	// rebalancing) after checkpointing.
	LeaseReleased = "released"
	// LeaseShardEnd: the shard was closed by resharding and fully
	// processed (SHARD_END).
	LeaseShardEnd = "shard_end"
	// LeaseExpired: the lease expired locally (the worker was paused or
	// partitioned) or its renewal failed.
	LeaseExpired = "expired"
	// LeaseFenced: a checkpoint write was refused because another worker
	// owns the lease now.
	LeaseFenced = "fenced"
	// LeaseHandedOver: the worker handed the shard to a named successor
	// after draining and checkpointing it (rebalance, scale-in).
	LeaseHandedOver = "handed_over"
	// LeaseReaderFailed: the shard's reader ended on a Kinesis error; the
	// worker takes the shard again after a backoff.
	LeaseReaderFailed = "reader_failed"
)

// Why a shard holds a window operator's global watermark, for WindowHeld.
const (
	// HeldEventTime: the shard is read and flowing (or went quiet less
	// than idle_timeout ago); its event time is the least.
	HeldEventTime = "event_time"
	// HeldBehind: the shard's last GetRecords reported MillisBehindLatest
	// above 0: a backlog is being read.
	HeldBehind = "behind"
	// HeldStalled: the shard's owner has had no successful GetRecords for
	// idle_timeout (slow, throttled or failing reads).
	HeldStalled = "stalled"
	// HeldNoOwner: no owner refreshed the shard's mark for idle_timeout
	// (the owner stopped, crashed or released it and no one took it yet).
	HeldNoOwner = "no_owner"
	// HeldUnread: the shard has no applied rows yet and may hold data (no
	// worker has read it, or its first rows are on their way).
	HeldUnread = "unread"
)

// What happens to a late row, for LateRows.
const (
	LateDrop       = "drop"
	LateDeadLetter = "dead_letter"
	LateUpdate     = "update"
)

// ReasonCode returns the code a dead-letter reason starts with: the text
// before the first ':' with surrounding spaces removed, or the whole reason
// when it has no detail. It does not allocate.
func ReasonCode(reason string) string {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		reason = reason[:i]
	}
	return strings.TrimSpace(reason)
}

// Nop implements every hook as a no-op. It is the default when no hooks are
// configured, and the type to embed in a partial implementation.
type Nop struct{}

var _ Hooks = Nop{}

func (Nop) RecordsRead(string, int, int, int64)          {}
func (Nop) BatchAcked(string, int, time.Duration, error) {}
func (Nop) Checkpointed(string, time.Duration)           {}
func (Nop) LeaseGained(string)                           {}
func (Nop) LeaseLost(string, string)                     {}
func (Nop) RowsOut(string, int)                          {}
func (Nop) FirehoseCall(string, FirehoseCall)            {}
func (Nop) DeadLetter(string, int)                       {}
func (Nop) InputSkipped(string, int)                     {}
func (Nop) RedisCall(string, time.Duration, error)       {}
func (Nop) WindowFlush(string, int)                      {}
func (Nop) WindowEmit(string, int)                       {}
func (Nop) LateRows(string, int, string)                 {}
func (Nop) WindowProgress(string, time.Time, time.Time)  {}
func (Nop) WindowHeld(string, string, string)            {}
func (Nop) S3Upload(string, S3Upload)                    {}
func (Nop) S3Retry(string)                               {}
func (Nop) LookupCache(string, int, int)                 {}

// Multi calls every hook of its elements in order. Build it with Join,
// which flattens nested Multis and drops nil and Nop elements.
type Multi []Hooks

var _ Hooks = Multi(nil)

func (m Multi) RecordsRead(shard string, records, bytes int, millisBehind int64) {
	for _, h := range m {
		h.RecordsRead(shard, records, bytes, millisBehind)
	}
}

func (m Multi) BatchAcked(shard string, records int, latency time.Duration, err error) {
	for _, h := range m {
		h.BatchAcked(shard, records, latency, err)
	}
}

func (m Multi) Checkpointed(shard string, lag time.Duration) {
	for _, h := range m {
		h.Checkpointed(shard, lag)
	}
}

func (m Multi) LeaseGained(shard string) {
	for _, h := range m {
		h.LeaseGained(shard)
	}
}

func (m Multi) LeaseLost(shard, reason string) {
	for _, h := range m {
		h.LeaseLost(shard, reason)
	}
}

func (m Multi) RowsOut(output string, rows int) {
	for _, h := range m {
		h.RowsOut(output, rows)
	}
}

func (m Multi) FirehoseCall(stream string, c FirehoseCall) {
	for _, h := range m {
		h.FirehoseCall(stream, c)
	}
}

func (m Multi) DeadLetter(reason string, n int) {
	for _, h := range m {
		h.DeadLetter(reason, n)
	}
}

func (m Multi) InputSkipped(reason string, n int) {
	for _, h := range m {
		h.InputSkipped(reason, n)
	}
}

func (m Multi) RedisCall(op string, latency time.Duration, err error) {
	for _, h := range m {
		h.RedisCall(op, latency, err)
	}
}

func (m Multi) WindowFlush(op string, keys int) {
	for _, h := range m {
		h.WindowFlush(op, keys)
	}
}

func (m Multi) WindowEmit(op string, rows int) {
	for _, h := range m {
		h.WindowEmit(op, rows)
	}
}

func (m Multi) LateRows(op string, n int, action string) {
	for _, h := range m {
		h.LateRows(op, n, action)
	}
}

func (m Multi) WindowProgress(op string, watermark, emittedThrough time.Time) {
	for _, h := range m {
		h.WindowProgress(op, watermark, emittedThrough)
	}
}

func (m Multi) WindowHeld(op, shard, reason string) {
	for _, h := range m {
		h.WindowHeld(op, shard, reason)
	}
}

func (m Multi) S3Upload(output string, u S3Upload) {
	for _, h := range m {
		h.S3Upload(output, u)
	}
}

func (m Multi) S3Retry(output string) {
	for _, h := range m {
		h.S3Retry(output)
	}
}

func (m Multi) LookupCache(lookup string, lookups, hits int) {
	for _, h := range m {
		h.LookupCache(lookup, lookups, hits)
	}
}

// Join combines hooks into one: nil and Nop elements are dropped and
// Multis flattened; it returns Nop{} for none and the hook itself for one,
// so the core can always call through a non-nil Hooks.
func Join(hooks ...Hooks) Hooks {
	var flat Multi
	var add func(h Hooks)
	add = func(h Hooks) {
		switch h := h.(type) {
		case nil, Nop, *Nop:
		case Multi:
			for _, e := range h {
				add(e)
			}
		default:
			flat = append(flat, h)
		}
	}
	for _, h := range hooks {
		add(h)
	}
	switch len(flat) {
	case 0:
		return Nop{}
	case 1:
		return flat[0]
	}
	return flat
}

// OrNop returns h, or Nop{} when h is nil: for an Options field that may be
// left unset.
func OrNop(h Hooks) Hooks {
	if h == nil {
		return Nop{}
	}
	return h
}

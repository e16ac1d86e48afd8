// Package metrics is the one place that lists what shardflow measures: the
// Hooks interface the core calls at each point worth counting, a no-op
// default (Nop) and a fan-out (Multi, Join).
//
// The core (consumer, sinks, processors, pipeline) calls hooks; it never
// imports a metrics library. Exporters live elsewhere as adapters that
// implement Hooks: metrics/prom for Prometheus, metrics/emf for CloudWatch
// Embedded Metric Format. This mirrors franz-go's kgo hooks and its kprom
// plug-in: the client knows only the hook points, the plug-in owns the
// names, labels and buckets.
//
// # What this package must never do
//
// Hooks are called on hot paths (once per Kinesis batch, Firehose call,
// Redis call, dead letter), so this package and every implementation:
//
//   - must not block, perform I/O or take locks held across I/O inside a
//     hook (an exporter that writes somewhere buffers and writes from its own
//     goroutine);
//   - must not allocate per call for a label value it has seen before: the
//     signatures take plain strings and numbers (no variadic label slices, no
//     maps, no closures), and adapters cache their label-bound series;
//   - must not retain the strings it is given beyond a cache key it copied
//     (a shard id or reason may be a slice of a larger buffer);
//   - must be safe for concurrent use: hooks are called from every shard
//     goroutine, every Firehose sender and every Redis caller at once.
//
// # The hook points
//
// Labels are the first string argument of each hook; an adapter adds the
// pipeline name itself. Values are deltas (what this one call did) except
// where noted.
//
//	hook           called by (where)                                  measures
//	RecordsRead    consumer: per ProcessRecords batch handed over     records, bytes, MillisBehindLatest per shard
//	BatchAcked     consumer: when a handed-over batch's ack fires     records acked per shard, hand-over→ack latency, failed batches
//	Checkpointed   consumer: after a successful checkpoint write      checkpoints per shard, lag = now − arrival of the checkpointed record
//	LeaseGained    consumer: a shard processor starts (Initialize)    leases held
//	LeaseLost      consumer: a shard processor ends, for any reason   leases held, losses by reason (see Lease* constants)
//	RowsOut        pipeline/outputs: rows handed to an output         rows out per output
//	FirehoseCall   sinks/firehose: once per PutRecordBatch attempt     calls, errors, retries, records sent/failed, payload and billed bytes, latency per stream
//	DeadLetter     sinks/deadletter: after entries are durable         dead-letter rows per reason code
//	InputSkipped   pipeline: after decoding a batch                    skipped input per reason (control messages, CSV headers, empty lines)
//	RedisCall      any Redis caller (or a go-redis hook)              latency and errors per operation
//	WindowFlush    window operators: per applied (shard, flush)       flushes and keys flushed per operator
//	WindowEmit     window operators: per acked emission               emissions and rows emitted per operator
//	LateRows       window operators: late rows routed                  late rows per operator and action (see Late* constants)
//	WindowProgress window emitters: once per emission cycle           watermark and emitted-through time per operator (lock holder only)
//	WindowHeld     window emitters: once per emission cycle           the shard holding the operator's watermark and why (Held* constants; lock holder only)
//	S3Upload       sinks/s3 (through its OnUpload): per file           objects, bytes, files given up per output
//	S3Retry        sinks/s3 (through its OnRetry): per failed call     S3 calls retried per output
//	LookupCache    processors/enrich (OnCache): per Redis lookup batch cache lookups and hits per lookup (hit ratio)
//
// A hook is called after the fact it reports is true (a batch is acked, a
// checkpoint is written), so a metric never runs ahead of the data.
package metrics

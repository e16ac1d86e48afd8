// Package emf is a CloudWatch Embedded Metric Format adapter of shardflow's
// metrics hooks: New returns a metrics.Hooks that aggregates in memory and,
// every Options.Interval, writes one EMF JSON line to an io.Writer (stdout
// by default, which the ECS awslogs driver ships to CloudWatch Logs, where
// the metrics are extracted without an agent or a PutMetricData call).
//
// Hooks only add to atomic counters (no lock, no allocation, no I/O); the
// writer's own goroutine formats and writes. Close stops it after a last
// line with what the final, partial interval gathered.
//
// CloudWatch bills every metric × dimension combination, so this adapter
// keeps one dimension, pipeline, and reports per interval: sums of the
// counters, maxima of the lag and latency gauges, and the current leases
// held. Per-shard, per-stream and per-reason breakdowns are Prometheus's
// (metrics/prom).
//
//	metric                    unit          meaning (per interval unless noted)
//	RecordsRead               Count         Kinesis records handed over
//	BytesRead                 Bytes         their payload bytes
//	MaxMillisBehindLatest     Milliseconds  largest MillisBehindLatest of any shard's read
//	RecordsAcked              Count         records whose batch every output acked
//	BatchesFailed             Count         batches acked with an error (an output gave up)
//	Checkpoints               Count         checkpoint writes
//	MaxCheckpointLag          Seconds       largest checkpoint lag (write − record arrival)
//	LeasesHeld                Count         shard leases held at the end of the interval
//	LeasesLost                Count         leases given up or lost, any reason
//	OutputRows                Count         rows handed to outputs
//	FirehoseCalls             Count         PutRecordBatch calls, resends included
//	FirehoseCallErrors        Count         calls that failed as a whole
//	FirehoseRetries           Count         calls that resent failed records
//	FirehoseRecords           Count         Firehose records sent (resends again)
//	FirehoseFailedRecords     Count         records rejected (and resent)
//	FirehosePayloadBytes      Bytes         record data sent
//	FirehoseBilledBytes       Bytes         billed bytes of accepted records (5 KiB rounding)
//	MaxFirehoseCallLatency    Milliseconds  slowest PutRecordBatch call
//	DeadLetterRows            Count         rows written to dead-letter
//	RedisCalls                Count         Redis round trips
//	RedisErrors               Count         failed Redis round trips
//	MaxRedisLatency           Milliseconds  slowest Redis round trip
//	WindowFlushes             Count         window flushes applied to Redis
//	WindowEmittedRows         Count         window result rows emitted
//	LateRows                  Count         rows later than their emitted window
//	WindowEmissions           Count         emissions of closed windows acked by the sink
//	MaxWatermarkLag           Seconds       now − watermark, largest over window operators (only from the task holding an emitter lock; absent elsewhere)
//	MaxEmitLag                Seconds       now − emitted-through time, likewise
//	WatermarksHeldByStuckShards Count       window operators (whose emitter lock this task holds) whose watermark a shard that is behind, stalled, without owner or unread holds, now
//	S3Objects                 Count         Parquet files uploaded by direct S3 outputs
//	S3Bytes                   Bytes         their bytes
//	S3Rows                    Count         their rows
//	S3UploadErrors            Count         files given up on (rows not checkpointed)
//	S3Retries                 Count         S3 calls retried
//	LookupCacheLookups        Count         keys Redis lookups looked up in their caches
//	LookupCacheHits           Count         of those, served by the cache (hit ratio = hits / lookups)
//
// It must never write from a hook, nor hold a lock across a write that a
// hook could wait on.
package emf

// Package s3 is the direct S3 output: it writes batches as Parquet files
// under Hive-style partitions, for users who want columnar files without
// Firehose's format conversion. It has two modes.
//
// # Exactly-once (Options.ExactlyOnce; outputs[].s3 of a pipeline)
//
// Each shard's rows, in sequence order, form a chain of segments. A segment
// is a run of consecutive rows of the shard; it is written as one object per
// partition hour it touches:
//
//	<prefix>dt=YYYY-MM-DD/hr=HH/<name>-<shard>-<first>-<last>.parquet
//
// where first and last are the positions (sequence number, ".<n>" for a KPL
// sub-record after the first) of the object's first and last rows, and the
// hour is each row's own arrival time (or event time with PartitionBy
// "event:<column>"). A segment ends before the row that would make it hold
// more than RollRecords rows, RollBytes encoded bytes, more than
// RollInterval of arrival time (the rows' ApproximateArrivalTimestamp, not
// the wall clock), or more than MaxOpenFiles partitions. Those ends are
// functions of the rows alone, and every Parquet write call carries 4,096
// rows counted from the object's start, so the bytes of an object do not
// depend on how the consumer batched the rows: whoever writes a segment
// writes the same objects with the same bytes.
//
// Three ends depend on the wall clock instead: a quiet shard (no row for
// IdleGrace while the segment's first row is RollInterval old), Drain
// (SIGTERM) and Close. Such an end is first recorded in the shard's head,
// and only then are the segment's objects written, so a replay ends the
// segment at the same row.
//
// A segment commits when all its objects are written: a manifest
// (<prefix>_shardflow/manifests/<shard>/<first>-<last>.json, the entries
// format Redshift's COPY ... MANIFEST reads, with content_length and
// record_count) is written, then the shard's head
// (<prefix>_shardflow/shards/<shard>.json: the last committed position and
// the recorded wall-time ends). Segments of a shard commit in order. A
// write is acked once every segment holding its rows is committed, so a
// checkpoint never passes a row whose object or manifest is missing.
//
// On the first write for a shard (a new lease, a restart) the output reads
// the head and skips every row at or before the committed position: those
// rows are in committed objects. A replay from an older checkpoint so
// writes nothing twice. Objects written but not committed before a crash
// are written again by the replay under the same key with the same bytes
// (the segment starts after the committed position and ends where the rows
// or the head say). ShardReleased (the lease went to another worker) drops
// the shard's open segment unwritten, acking its writes with
// ErrShardReleased: the new owner writes those rows from the head on; a
// batch for the shard that arrives after the release is refused the same
// way until ShardStarted (the lease taken again).
//
// Readers: every data object is complete (S3 writes an object whole); the
// manifests say which objects a committed segment holds. Paths under
// _shardflow/ are hidden to Hive, Athena, Glue crawlers and DuckDB's hive
// partitioning. The guarantee assumes one writer per shard at a time (the
// fenced leases) and deterministic transforms: a replay whose Redis lookup
// finds other values writes the same rows with the new values under the
// same keys; a filter on such a value could move a segment end.
//
// Memory: an exactly-once file is held in memory (PartSize buffers) until
// its segment ends, because its key names its last row: about open
// segments × RollBytes.
//
// # At-least-once (window results)
//
// Keys are <prefix>dt=YYYY-MM-DD/hr=HH/<name>-<yyyyMMddTHHmmssZ>-<uuid>.parquet
// (the time in the name is when the file was opened, UTC). The partition is
// the arrival time of a batch's first row (flow.Batch.Origins; the whole
// batch goes to it), or with PartitionBy "event:<column>" the hour of a
// timestamp column, each run of consecutive rows of one hour going to that
// hour's file. A replay writes new files: window rows carry row ids for
// downstream deduplication.
//
// It owns: one open file per partition (a pqarrow writer, one row group
// buffered in memory), rolling files on size, age and the open-file limit,
// the upload of each file (PutObject when it fits in one part, else a
// multipart upload streaming parts of PartSize, ≥ 5 MiB, while the file is
// still being written, aborted on failure), retrying failed S3 calls with
// exponential backoff and full jitter for at most RetryTimeout, and ack
// ordering. Memory is bounded by about MaxOpenFiles × (RowGroupBytes +
// PartSize) for open files plus MaxInFlightUploads × PartSize for parts in
// flight.
//
// # Both modes
//
// Delivery: a Write's ack is called once every file holding its rows has
// been uploaded (and, exactly-once, committed) (nil) or given up on (the
// error), and acks are delivered in Write order. A file given up on fails
// only the writes with rows in it; later files still upload and their
// writes still ack (exactly-once: later segments of the same shard fail
// too, the head cannot pass the gap). Nothing is dropped silently: a failed
// write's error stops its shard's checkpoint.
//
// It must never keep a caller's batch beyond Write unless it retained it:
// at-least-once rows are encoded during Write; exactly-once keeps retained
// slices of fewer than 4,096 rows per open file until a canonical write
// call is complete.
//
// Concurrency: Write runs on the caller's goroutine and holds mu while it
// encodes, so writers are serialized; encoding a full row group or part can
// block Write until an upload slot frees (back-pressure). The roller
// goroutine (rolls files past RollInterval, seals quiet segments) also
// takes mu. Each file has one uploader goroutine, started when the file
// opens, that receives the file's parts through a channel and uploads them
// with up to MaxInFlightUploads S3 calls across the output (one semaphore);
// the uploader of a segment's last file commits the segment (waiting for
// the previous segment of its shard). A shard's head writes are serialized
// by its chain's headMu. Acks are delivered outside mu by whichever
// goroutine completes the write that is next in order. Lock order: mu, then
// the ack queue's lock; a chain's headMu is never held with mu; ack
// callbacks run under none. Close stops the roller, rolls every open file
// and segment and waits for the uploaders; cancelling its context aborts
// retries and in-flight calls.
package s3

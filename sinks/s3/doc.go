// Package s3 is the direct S3 output: it writes batches as Parquet files
// under Hive-style partitions, for users who want columnar files without
// Firehose's format conversion. Keys are
//
//	<prefix>dt=YYYY-MM-DD/hr=HH/<name>-<yyyyMMddTHHmmssZ>-<uuid>.parquet
//
// (the time in the name is when the file was opened, UTC). The partition is
// the arrival time of a batch's first row (flow.Batch.Origins; the whole
// batch goes to it), or with PartitionBy "event:<column>" the hour of a
// timestamp column, each run of consecutive rows of one hour going to that
// hour's file.
//
// It owns: one open file per partition (a pqarrow writer, one row group
// buffered in memory), rolling files on size, age and the open-file limit,
// the upload of each file (PutObject when it fits in one part, else a
// multipart upload streaming parts of PartSize, ≥ 5 MiB, while the file is
// still being written, aborted on failure), retrying failed S3 calls with
// exponential backoff and full jitter for at most RetryTimeout, and ack
// ordering.
//
// Delivery: a Write's ack is called once every file holding its rows has
// been uploaded (nil) or given up on (the error), and acks are delivered in
// Write order. A file given up on fails only the writes with rows in it;
// later files still upload and their writes still ack. Nothing is dropped
// silently: a failed write's error stops its shard's checkpoint.
//
// Memory is bounded by about MaxOpenFiles × (RowGroupBytes + PartSize) for
// open files plus MaxInFlightUploads × PartSize for parts in flight; with
// arrival-time partitioning one or two files are open at a time.
//
// It must never keep a caller's batch: rows are encoded into the pqarrow
// writer during Write, so the caller may release the batch when Write
// returns.
//
// Concurrency: Write runs on the caller's goroutine and holds mu while it
// encodes, so writers are serialized; encoding a full row group or part can
// block Write until an upload slot frees (back-pressure). The roller
// goroutine (rolls files past RollInterval) also takes mu. Each file has
// one uploader goroutine, started when the file opens, that receives the
// file's parts through a channel and uploads them with up to
// MaxInFlightUploads S3 calls across the output (one semaphore). Acks are
// delivered outside mu by whichever goroutine completes the write that is
// next in order. Lock order: mu, then the ack queue's lock; ack callbacks run
// under neither. Close stops the roller, rolls every open file and waits for
// the uploaders; cancelling its context aborts retries and in-flight calls.
package s3

// Package redrive puts dead-lettered records back into a Kinesis stream:
// it reads dead-letter envelopes (the NDJSON lines sinks/deadletter writes:
// reason, pipeline, shard, sequence, raw_base64, …) from files or from an
// S3 prefix (what a dead_letter.firehose delivery stream wrote, plain or
// GZIP), keeps those of the pipeline and reasons asked for, and puts each
// one's raw bytes back as one record — `shardflow deadletter redrive`.
//
// Each envelope is put once: a PutRecords call resends only the records
// Kinesis failed, by index (a call that fails as a whole, e.g. a timeout,
// is resent whole and may duplicate, as any producer's retry may). The
// pipeline then decodes the records as new input; fixed records are
// delivered, records still bad are dead-lettered again.
//
// What it must never do: skip an unreadable line silently (it fails with
// the file and line), put a record for an envelope that was filtered out,
// or change the raw bytes.
package redrive

// Package produce puts generated events into a Kinesis stream with
// PutRecords, resending only the records Kinesis failed (by index) with
// backoff, optionally at a fixed rate. It backs `shardflow produce`, the
// demo and the end-to-end tests.
package produce

// Package produce puts generated events into a Kinesis stream with
// PutRecords, resending only the records Kinesis failed (by index) with
// backoff, optionally at a fixed rate. It backs `shardflow produce`, the
// demo and the end-to-end tests.
//
// It never drops a record Kinesis failed (it resends it until the context
// ends) and never decides what the events are.
package produce

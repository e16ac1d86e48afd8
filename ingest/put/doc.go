// Package put sends the agent's records to a Kinesis data stream
// (PutRecords) or a Firehose delivery stream (PutRecordBatch) and
// acknowledges each record once the service accepted it.
//
// It owns batching (up to 500 records and the request byte limit per
// call, flushed when full or after Linger), optional KPL aggregation for
// Kinesis (records packed into aggregated records of at most
// AggregateMaxBytes; with keyed partitioning, one aggregate per shard, put
// with an explicit hash key in that shard's range, so records of one key
// still reach one shard), optional packing for Firehose (newline-delimited
// records packed into Firehose records of at most 1,024,000 bytes, which
// Firehose bills by 5 KiB), and delivery: a bounded number of calls in
// flight, the records a call failed (FailedRecordCount / FailedPutCount,
// by index) resent alone with exponential backoff and full jitter, whole
// failed calls resent likewise, without end — a record is acknowledged
// only when it was accepted, never dropped. Memory is bounded: Add blocks
// while MaxBufferedBytes of records are unacknowledged.
//
// It must never acknowledge a record the service did not accept, never
// resend a record the service accepted inside a partly failed call, and
// never let the SDK retry whole calls on its own (clients are made with
// one attempt).
//
// # Concurrency
//
// Add, Tick and Flush are called by one goroutine (the flow's reader),
// which owns the batch under construction. The Sender owns MaxInFlight
// worker goroutines that make the calls and acknowledge; Close stops them.
// Acknowledgements (state.Ticket.Ack) run on the workers.
package put

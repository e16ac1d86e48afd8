// Package firehose is the Kinesis Data Firehose output. It encodes each row
// as one line, packs lines into Firehose records of at most 1,024,000 bytes
// without splitting a line (Firehose bills every record rounded up to 5 KiB,
// so packing is what makes small rows cheap), and sends PutRecordBatch calls
// of at most 500 records and 4 MiB.
//
// Records Firehose fails inside a successful call are resent alone, by index,
// with exponential backoff and full jitter, as are whole calls that fail.
// Past the retry timeout the call's writes are acked with an error and the
// output reports unhealthy: nothing is dropped, checkpoints stop instead.
//
// Concurrency: Write encodes on the caller's goroutine and hands the lines
// to the packer goroutine through a bounded channel (blocking when full).
// The packer owns the request under construction and hands finished
// requests to MaxInFlight sender goroutines. Acks are delivered in Write
// order, under ackMu, by whichever sender completes the call that makes the
// next writes durable. Close stops all of them. Lock order: none nests.
//
// A row larger than one Firehose record goes to the dead-letter output with
// reason "oversize_row"; the write is acked when both are durable.
//
// It never splits a row across records, never drops a row or a failed
// record, and never acks a write before every record of it was accepted.
package firehose

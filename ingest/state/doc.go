// Package state keeps what the agent has durably delivered: for every file
// and S3 object a flow reads, the byte offset and line count up to which
// every record was acknowledged by Kinesis or Firehose, and writes it to
// one checkpoint file.
//
// It owns the per-source ack tracking (Progress: records are registered in
// read order and acknowledged in any order; the committed position only
// moves over a contiguous prefix of acknowledged records) and the file
// (Store: JSON, written to a temporary file, fsynced, renamed over the old
// one and the directory fsynced, so that a crash at any instant leaves the
// old or the new checkpoint, never a torn one). It must never let a
// committed position pass a record that was not acknowledged, and never
// write a checkpoint before the dead-letter file it depends on is synced
// (Store.BeforeWrite). It does no reading of sources and no network I/O.
//
// # Concurrency
//
// Progress is safe for concurrent use: the reader registers records, put
// workers acknowledge them, the writer snapshots. Store owns one writer
// goroutine, started by Run, which writes at once when a WaitCovered caller
// waits for a write and otherwise at most Interval after a change (changes
// are coalesced). Lock order: Store.mu, then Progress.mu; the BeforeWrite
// hook is called with neither held.
package state

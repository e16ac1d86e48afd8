// Package kpl de-aggregates KPL (Kinesis Producer Library) aggregated
// records one record at a time, so that one corrupt aggregate becomes one
// dead letter instead of costing a whole GetRecords batch.
//
// # Why
//
// The KCL (vmware-go-kcl-v2 v1.0.0) runs the awslabs deaggregator over each
// GetRecords batch as a whole. That deaggregator returns only an error when
// any aggregate in the batch has a valid magic and MD5 but a malformed
// protobuf, and the KCL then logs the error and delivers nothing: every good
// record of the batch is lost (DESIGN "Delivery guarantees" 6 forbids it).
// It also indexes the partition-key table without a bounds check, so an
// out-of-range index panics. We do not fork the KCL; its Kinesis client is
// ours, so WithSafeDeaggregation adds a middleware to that client's
// GetRecords operation which rewrites each response before the KCL sees it:
//
//   - valid aggregates are expanded into their sub-records here, so the
//     KCL's deaggregator only ever sees plain records, which it passes
//     through unchanged (it expands a record only when it starts with the KPL
//     magic and carries a matching MD5; RewriteRecords guarantees no record
//     it returns does);
//   - a corrupt aggregate becomes one record whose Data is CorruptMarker,
//     a reason, NUL and the original bytes; the consumer recognises it with
//     ParseCorrupt and sends it to the dead-letter output
//     (flow.SourceRecord.Rejected).
//
// # The format
//
// An aggregated record is the 4-byte magic F3 89 9A C2, a protobuf
// AggregatedRecord (partition_key_table = 1, explicit_hash_key_table = 2,
// records = 3; Record: partition_key_index = 1 (required),
// explicit_hash_key_index = 2, data = 3 (required), tags = 4) and the MD5 of
// that protobuf. As the KPL specifies, data with the magic but a wrong MD5 is
// a plain record. Data with the magic and a matching MD5 is an aggregate,
// and it must then be a well-formed AggregatedRecord with at least one
// record and every key index inside its table, or it is corrupt. The
// protobuf is read with protowire, without generated code; unknown fields are
// skipped as any protobuf reader does.
//
// # Sequence numbers
//
// Sub-records carry their aggregate's sequence number (Kinesis knows only
// the aggregate). The sub-records of one aggregate are always in the same
// GetRecords response, in order and next to each other, because the
// aggregate is one Kinesis record and is expanded where it stands; sub-record
// i is output i of its aggregate on every read. A consumer can therefore
// number consecutive records that share a sequence number 0, 1, 2... and get
// the same sub-sequence numbers when it replays the shard. A KCL checkpoint
// is per sequence number, so it covers all sub-records of an aggregate or
// none.
//
// # Limits
//
//   - Only GetRecords (the polling consumer) is covered. Records delivered
//     by SubscribeToShard (enhanced fan-out) do not pass through this
//     middleware; RewriteRecords can be applied to them by hand.
//   - The KCL counts bytes read (its 2 MB/s per-shard budget) on the
//     rewritten records: sub-records are slightly smaller than their
//     aggregate, marked records slightly larger. The difference is a few
//     percent at most.
//   - ExplicitHashKey of sub-records is decoded but has no place in a
//     types.Record; KPL tags are validated and dropped, as the KCL drops them.
//
// It owns no goroutines and no state; everything is safe for concurrent use.
// It must never drop a record it cannot parse (it is marked and passed on),
// change a good record's bytes, or reorder the records of a response.
package kpl

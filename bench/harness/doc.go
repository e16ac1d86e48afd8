// Package harness runs shardflow's processing path in process, without
// Kinesis or Firehose, to measure it: KCL-shaped batches (flow.SourceRecord
// slices, one goroutine per shard as the KCL hands them over) go through
// decode, the configured stages (transforms such as enrich, derive, filter)
// and the configured outputs, exactly as pipeline.HandleBatch does, and a
// Run reports records/s, records per CPU-second, allocations per record,
// peak RSS and, when Redis is used, Redis commands per record.
//
// The seam for new operators is the Spec: Stages are transform.Transforms
// built on the previous stage's schema; Outputs are flow.Outputs built on the
// final schema (a window operator is a flow.Output and plugs in there). The
// discard Encode output stands in for the Firehose output: it encodes every
// row (NDJSON or CSV) and drops the bytes.
//
// A window operator (processors/window, a flow.Output) plugs in as an
// OutputFunc, built on the final schema:
//
//	Outputs: []harness.OutputFunc{func(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
//		return window.New(window.Options{Schema: in, Allocator: mem, Redis: env.Redis.Client,
//			DeadLetter: &harness.DeadLetters{}, ...})
//	}}
//
// with Load.Commands = env.Redis.Commands to count its Redis commands per
// record. It acks after each flush to Redis, so Load.MaxInFlight (default
// 8, as in the pipeline) × the batch size bounds the rows a shard has
// waiting for a flush, exactly as in the pipeline; Run returns once every
// batch was acked, so the operator must ack on its own flush timer, not
// only on Close.
//
// It owns the goroutines of a Run (one per shard) and waits for them and
// for every ack before Run returns; a Redis it starts (StartRedis) is its
// own process, stopped by Close. It is a measuring tool: it must never be
// imported by the pipeline.
package harness

// Package e2e holds the end-to-end benchmark of issue #8 (e2e_test.go): on
// the local stack (kinesalite, firehose-local, s3-local, redis-server), a
// 16-shard stream, a producer putting reference click events at a target
// rate and `shardflow run` in process (pipeline.New/Run, static-table plan
// join, Firehose NDJSON output), measuring put → Firehose-ack latency per
// record and sustained throughput, and the CPU each local server used.
//
// It is a benchmark, not a test: `make bench-e2e` runs it; `make test` does
// not. It has no non-test code.
//
// It never skips when the local stack is missing (it fails), and its
// streams and delivery streams have unique names, so it never reads
// another run's data.
package e2e

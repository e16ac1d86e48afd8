// Package pipelinetest runs whole pipelines in a test against the local
// stack (internal/testenv): a fresh Kinesis stream and Firehose delivery
// streams per test, the pipeline run in process until the test stops it (a
// drain, as SIGTERM), and polling of what arrived in S3 and on /metrics.
// The examples' and the CLI's end-to-end tests share it.
//
// Everything it creates is removed at the test's cleanup; it never skips:
// a missing local service fails the test (testenv).
package pipelinetest

// Package firehoselocal is a local emulator of Amazon Data Firehose (Kinesis
// Data Firehose) for development and tests: the engine behind
// cmd/firehose-local.
//
// # What it owns
//
//   - The Firehose data and control plane over AWS JSON 1.1 (POST /,
//     X-Amz-Target: Firehose_20150804.<Op>): CreateDeliveryStream,
//     DescribeDeliveryStream, ListDeliveryStreams, DeleteDeliveryStream,
//     PutRecord and PutRecordBatch, with the limits, error types, messages
//     and response shapes of the real service, so that unmodified clients
//     (aws-sdk-go-v2, the AWS CLI, the JS SDK) cannot tell the difference.
//   - Per delivery stream: the buffer (records concatenated without a
//     delimiter, as Firehose does), the buffering hints (size and interval,
//     whichever comes first), and delivery of each buffer as one S3 object
//     named as Firehose names it:
//     <prefix>YYYY/MM/DD/HH/<name>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>[.gz].
//   - Fault injection (throttled records, failed calls, latency) and
//     counters, for tests.
//
// Each delivery stream has one goroutine that activates it after the
// creation delay, watches the interval trigger on a ticker and uploads
// sealed buffers in order. Server.Close stops them all after flushing.
//
// # What it must never do
//
//   - Lose an accepted record. A record answered with a RecordId is
//     delivered to S3 eventually (or reported by Close as undelivered); a
//     failed S3 upload keeps its buffer and is retried with backoff, with
//     the same object key, so a retry never produces a second object.
//   - Silently mis-emulate. Configuration it does not implement yet (prefix
//     expressions !{...}, ZIP/Snappy compression, record processors, format
//     conversion, dynamic partitioning, KMS, other destinations and sources)
//     is refused with InvalidArgumentException naming the unsupported field,
//     never accepted and ignored.
//   - Hold global mutable state: everything lives in a Server.
//   - Verify SigV4 signatures or credentials: any request, signed or not, is
//     accepted.
//
// # Error types
//
// Constraint violations of the API model (name pattern and length, 1-500
// records, 1,024,000 bytes per record, hint ranges, required members) are
// answered as the service's request validation layer answers them: HTTP 400,
// __type ValidationException, message "N validation error(s) detected: Value
// ... at 'records.1.member.data' failed to satisfy constraint: ...".
// ValidationException is not in the Firehose model, so SDKs surface it as a
// generic API error with that code. Checks the service makes itself use the
// modelled exceptions: a request whose records total more than 4 MiB is
// InvalidArgumentException "Records size exceeds 4 MB limit"; an unknown,
// CREATING or DELETING stream is ResourceNotFoundException; a duplicate name,
// or deleting a CREATING stream, is ResourceInUseException; throttling is
// ServiceUnavailableException (HTTP 503).
//
// # Local endpoints
//
// Besides the Firehose API, the handler serves:
//
//	GET  /healthz                      200 "ok"
//	GET  /_local/streams               counters per stream, JSON object keyed by name:
//	                                   {"status", "records_accepted", "bytes_accepted",
//	                                    "records_throttled", "calls_failed",
//	                                    "objects_delivered", "records_delivered",
//	                                    "bytes_delivered", "buffered_bytes",
//	                                    "delivery_failures", "last_delivery_error"}
//	GET  /_local/faults?stream=NAME    the stream's current faults
//	POST /_local/faults?stream=NAME    set the stream's faults; body (all optional,
//	                                   an empty object clears them):
//	                                   {"throttle_fraction": 0.2, "fail_call_fraction": 0.1,
//	                                    "latency_ms": 50, "seed": 7}
//
// bytes_accepted and bytes_delivered count record bytes before compression,
// so after a complete flush they are equal.
package firehoselocal

// Package encode turns rows of Arrow record batches into the bytes outputs
// send: NDJSON lines for Firehose → S3 (and Redshift COPY ... FORMAT JSON).
//
// Encoders append to a caller's buffer one row at a time, so an output can
// pack rows into Firehose records without splitting one, and allocate nothing
// per row. They own no goroutines and no I/O, do not retain batches, and
// never change or drop a value silently: a type they cannot represent
// faithfully is refused when the encoder is built, not at run time. The one
// deliberate exception is a non-finite float (NaN, ±Inf), which JSON cannot
// express and is written as null.
//
// An encoder is immutable after construction and safe for concurrent use.
package encode

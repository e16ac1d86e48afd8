// Package encode turns rows of Arrow record batches into the bytes outputs
// send: NDJSON lines for Firehose → S3 (and Redshift COPY ... FORMAT JSON),
// CSV lines for Redshift COPY ... CSV and PostgreSQL COPY ... (FORMAT csv),
// and Parquet files for S3 (sinks/s3).
//
// The row encoders (NDJSON, CSV) append to a caller's buffer one row at a
// time, so an output can pack rows into Firehose records without splitting
// one, and allocate nothing per row. They own no goroutines and no I/O, do
// not retain batches, and never change or drop a value silently: a type they
// cannot represent faithfully is refused when the encoder is built, not at
// run time. The deliberate exceptions are a non-finite float (NaN, ±Inf),
// which JSON cannot express and COPY cannot load into every numeric column,
// written as null, and invalid UTF-8 in a string, written as U+FFFD. A row
// encoder is immutable after construction and safe for concurrent use.
//
// ParquetWriter wraps arrow-go's pqarrow writer around one io.Writer. It is
// stateful (one file, one row group buffered in memory), not safe for
// concurrent use, and copies what it keeps, so a batch may be released as
// soon as Write returns.
package encode

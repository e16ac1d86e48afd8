// Package lakehouse holds the tests that read what shardflow and
// firehose-local write to S3 the way a query engine does: DuckDB (through
// its Go driver, cgo) runs read_parquet(..., hive_partitioning = true) over
// the objects, mirrored from s3-local to a temporary directory, and checks
// Parquet types (timestamps as timestamps), partition columns, row counts,
// duplicates and aggregates. DuckDB shares no code with arrow-go or
// parquet-go, which the product uses to write.
//
// It owns no product code: only tests live here, so only this package's
// test binary links DuckDB. It must never be imported.
package lakehouse

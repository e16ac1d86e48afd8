// Package delivered reads what a Firehose delivery stream wrote to S3 (NDJSON
// objects, optionally GZIP) and counts rows and distinct ids. It backs
// `shardflow local report` and the end-to-end tests, so both judge delivery
// the same way: every row counted, duplicates reported, never assumed.
package delivered

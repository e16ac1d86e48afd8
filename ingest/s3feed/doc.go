// Package s3feed reads the objects under an S3 prefix, line by line, for an
// agent flow: NDJSON, CSV or any line-oriented text, gzip-compressed or
// not.
//
// It owns listing (ListObjectsV2 of the prefix every PollInterval, objects
// taken in key order), reading (one object at a time, a bounded number of
// lines per Poll, so that the flow's other work goes on) and each object's
// place in the checkpoint: an object is identified by its key and ETag;
// its committed position (offset in the decompressed stream and line
// count) advances as its records are acknowledged, and it is marked done
// once every line was read and acknowledged. After a restart a done object
// is skipped and an unfinished one continues from its committed position
// (a Range request, or for gzip objects a re-read that discards what was
// delivered), so no object is skipped and none is repeated beyond the
// records that were in flight. An object overwritten with new content (a
// new ETag) is read again as a new object.
//
// It must never mark an object done before all its lines were handed over
// and acknowledged, and never forget a done object that is still listed
// (it would be read again). It owns no goroutines; a Feed is used by the
// flow's reader goroutine only.
//
// On AWS, listing a large prefix every interval costs one LIST request per
// 1,000 keys. The alternative AWS offers — S3 event notifications to an
// SQS queue, the agent reading the queue — is described in the agent's
// documentation (docs/agent.md) and not implemented here.
package s3feed

// Package deadletter writes rejected input as one JSON envelope per line:
// {"reason","pipeline","shard","sequence","sub_sequence","arrival_time",
// "raw_base64"}. The file output fsyncs before it acks, so a checkpoint never
// passes a record whose dead-letter entry could still be lost.
//
// It owns no goroutine: writes happen on the caller's goroutine under a mutex.
package deadletter

// Package sinks is the home of the encoders (sinks/encode) and outputs
// (sinks/firehose, sinks/s3, sinks/deadletter) that take Arrow batches out
// of a pipeline. Outputs implement flow.Output and report durability only
// through acks; health and counters are optional methods (Healthy, Stats)
// the pipeline looks for.
//
// Sinks never import processors/ or the local emulators, and never ack
// rows that are not durable where they were sent.
package sinks

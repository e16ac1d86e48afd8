// Package sinks is the home of the encoders (sinks/encode) and outputs
// (sinks/firehose, sinks/deadletter) that take Arrow batches out of a
// pipeline. Outputs implement flow.Output and report durability only through
// acks.
package sinks

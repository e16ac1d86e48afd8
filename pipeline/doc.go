// Package pipeline owns the per-pipeline YAML configuration (its types,
// defaults and validation with field paths) and the wiring that turns a
// config into a running pipeline: source → decode → outputs, with acks
// joined so that a shard's checkpoint only passes what every output has made
// durable.
//
// It must never hold KCL or AWS SDK types in its exported API beyond the
// config values that name endpoints; those live in consumer/ and sinks/.
package pipeline

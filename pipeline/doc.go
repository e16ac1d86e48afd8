// Package pipeline owns the per-pipeline YAML configuration and the
// wiring that turns it into a running pipeline, in three steps:
//
//   - Decode reads a file: YAML, ${VAR} interpolation inside scalar values,
//     a strict decoding with line and column of every key, and the declared
//     defaults (decl.go: one description of every key, also behind the JSON
//     Schema, `shardflow config` and the README reference).
//   - Plan resolves the pipeline offline: the decode schema, each
//     transform's output schema, every window's columns and result types,
//     every output's options (each stage's own pure checks: processors/*
//     and sinks/s3 plan.go), static table files read, and every problem
//     collected as a *FieldError with its path. `shardflow validate` runs
//     it; Explain prints it.
//   - New attaches I/O to a plan (clients, files, outputs, window state, the
//     consumer); Run starts it and drains it on SIGTERM: source → decode →
//     transforms → outputs and windows, acks joined so that a shard's
//     checkpoint only passes what every output has made durable.
//
// Files: config.go (types), load.go (reading), decl.go (declarations),
// plan.go (Plan), schema.go, effective.go, explain.go, new.go (wiring),
// redis.go (RedisClient: the one way every command connects to Redis —
// verified TLS, user, pool, timeouts, clear TLS and AUTH errors),
// batch.go (the per-batch hot path), run.go (lifecycle), ops.go (ops
// endpoint, health), progress.go (counters, progress log).
//
// It never holds KCL or AWS SDK types in its exported API beyond the config
// values that name endpoints (those live in consumer/ and sinks/), never
// replaces a value the file set by a default, never lets New reject, for a
// config reason, a config Plan accepted (a Redis whose certificate does not
// verify or that refuses the AUTH is a fact of the server, only seen when
// New connects: New stops on it), and never skips TLS verification.
package pipeline

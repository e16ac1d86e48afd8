// Package ingest is shardflow's agent: it replaces the Kinesis Agent on the
// hosts (or sidecars) that hold log files, and reads S3 file feeds, putting
// their lines into a Kinesis data stream or a Firehose delivery stream.
//
// It owns the agent's configuration (Config, one YAML file), its flows (a
// source — file globs, tail, or an S3 prefix, s3feed — through line
// processing, lines, to a destination, put), the dead-letter file, the
// checkpoint file's writer goroutine (state) and the agent's shutdown. It
// must never lose a line: a line is put and acknowledged, or written to
// the dead-letter file (synced before any checkpoint that counts it), or
// skipped for a stated reason (a header, an empty line), and the
// checkpoint passes a line only then. After a crash (kill -9) the agent
// re-sends what was in flight — at least once, never less.
//
// # Concurrency
//
//   - Each flow owns one reader goroutine (flow.run): it polls its tailer
//     or feed, processes lines and adds records to its sender; it blocks
//     when the sender's buffer is full (reading pauses while puts lag).
//   - Each sender owns MaxInFlight worker goroutines that make the calls
//     and acknowledge records (state.Ticket.Ack), then wait (bounded)
//     until the checkpoint covers them (state.Store.WaitCovered) before the
//     next call, and, with keyed KPL aggregation, one goroutine re-reading
//     the shard map.
//   - The checkpoint store owns one writer goroutine that writes the
//     checkpoint when a worker waits for it, else at most a second after a
//     change (coalesced), syncing the dead-letter file first.
//   - Run starts them; on ctx cancellation (SIGTERM) readers stop, senders
//     drain within shutdown_timeout, the checkpoint is written a last time.
//
// Metrics are read from Snapshot by an adapter (ingest/agentprom for
// Prometheus); the CLI (cmd/shardflow agent) prints progress from it.
package ingest

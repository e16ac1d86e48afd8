// Package window is shardflow's event-time windowed aggregation: tumbling
// and hopping windows per group key, with watermarks, allowed lateness and
// Redis-backed state that is applied effectively once across shards, tasks
// and failovers.
//
// Two parts cooperate through Redis:
//
//   - The Operator is a flow.Output. It pre-aggregates each shard's rows in
//     memory and flushes them per shard with one Lua script that appends the
//     shard's partial aggregates (one delta per window) and advances the
//     shard's applied mark in the same atomic step. A flush whose range is
//     already applied is skipped; one that overlaps a range applied by
//     someone else is rebuilt from the retained batches. A batch is acked
//     (and so may be checkpointed) only once its rows are applied.
//   - The Emitter runs in every task; one holds a fenced Redis lock at a
//     time. It computes the global watermark from the shards' marks (see
//     Idleness below), closes
//     windows whose end + allowed lateness it passed (atomically per shard,
//     so a shard's later flush can no longer add to them), merges the
//     shards' deltas, writes one result row per window and group with a
//     deterministic row id, and records the emission only after the output
//     acked. A successor of a crashed emitter re-emits the same rows with
//     the same ids.
//
// Idleness comes from the source, not the clock. The consumer reports
// every GetRecords (Operator.ShardRead: records, MillisBehindLatest, as
// plain values through the pipeline); the operator keeps, per shard it
// owns, when its reader last read and since when it has been caught up,
// and writes that into the shard's mark with each flush and, without
// rows, every IdleTimeout/4 (one HSET per shard, never per row). The
// emitter leaves a shard out only when its mark says caught up, read
// recently and quiet for IdleTimeout. A shard with a backlog, a reader
// that stalls (slow, throttled or failing GetRecords) or an owner that
// stopped refreshing its mark holds the watermark: a stall never turns
// on-time rows late. The price is that one stuck shard holds every window
// of the operator until it is read again (or, without any owner, for 10 ×
// IdleTimeout); Hooks.WindowHeld names the shard holding the watermark and
// why. Marks without reader state (older versions) are judged by active
// alone, as before.
//
// Key layout (all under Options.KeyPrefix, see keys.go): a shard's state
// and deltas share the hash tag {<app>:<operator>:<shard>}, the emitter's
// lock and progress {<app>:<operator>}, so every script touches one slot.
//
// Applied marks, emitter lock tokens and emission progress only move
// forward in one Redis: a flush that finds its shard's mark gone or behind
// where this worker moved it, and an emitter that finds its lock gone or
// its token or progress lower than it saw, stop with ErrStateLost and write
// nothing more (the shard's pending batches fail, so checkpoints hold).
//
// It never counts a row twice (a flush whose range is applied is skipped),
// never emits a window before the watermark passed it, never writes onto
// state Redis lost, and never imports the outputs it feeds (results go
// through flow.Output).
package window

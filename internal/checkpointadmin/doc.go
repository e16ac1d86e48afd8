// Package checkpointadmin is what `shardflow checkpoints list|reset` runs
// on: it reads a pipeline's leases and checkpoints from its store, works out
// the checkpoint that starts a shard at a chosen position of the stream
// (TRIM_HORIZON, LATEST, a timestamp or a sequence number), and writes it.
//
// # Why it is not in checkpoints/
//
// The stores in checkpoints/redis and checkpoints/dynamodb are being
// rewritten (lease assignment), so this package does not call them: it
// reads and writes their documented layouts directly —
//
//   - Redis (checkpoints/redis doc.go): hash <prefix>:{<app>}:lease:<shard>
//     with owner, lease_timeout_ms, token, checkpoint, parent; set
//     <prefix>:{<app>}:shards. A write here is one Lua script that checks
//     the lease in the same step.
//   - DynamoDB: the KCL's lease table, items keyed by ShardID with
//     AssignedTo, LeaseTimeout (RFC 3339), Checkpoint, ParentShardId. A
//     write is an UpdateItem conditional on the lease attributes read.
//
// When the stores change their layout, this package must follow (or be
// ported onto functions of the stores themselves).
//
// # Positions
//
// The KCL starts a shard that has a checkpoint AFTER_SEQUENCE_NUMBER of it;
// only a shard without one starts at source.initial_position. A rewind is
// therefore always a sequence number (or SHARD_END), never a deleted
// checkpoint: a store that lost its checkpoints must look different from
// one that was rewound. TRIM_HORIZON is the shard's StartingSequenceNumber
// (before every record). A timestamp T is the last record that arrived
// before T, found by reading forward from an AT_TIMESTAMP iterator a
// little before T, widened until a record before T is found, and finally
// from TRIM_HORIZON; LATEST is a timestamp of now. A closed shard whose
// records all arrived before T is SHARD_END, so its children start.
//
// # What it must never do
//
//   - Write a checkpoint under a worker that holds a live lease, unless
//     told to revoke it: then the lease is fenced in the same atomic step
//     (Redis: token +1 and owner removed; DynamoDB: AssignedTo removed), so
//     the holder's next renewal or checkpoint fails and it stops the shard.
//   - Conclude "no record before T" from anything but a read from
//     TRIM_HORIZON (a probe that failed or timed out only widens the search).
//   - Touch window state: replayed rows at or below a window operator's
//     applied mark are skipped by the operator, so a rewind re-delivers to
//     direct outputs but never counts a row twice in a window.
package checkpointadmin

// Package dynamodb is the lease and checkpoint store (checkpoints.Store) on
// a DynamoDB table, for teams that keep leases where the AWS KCL does. It
// creates the table itself (on-demand billing) and waits until it is ACTIVE,
// because the KCL's own CreateTable makes two workers starting together race
// and one of them fail (ResourceInUseException).
//
// Every write is one conditional UpdateItem: acquisition when the lease is
// free, expired or reserved for the caller (the token attribute grows by
// one); renewal, checkpoint, handoff and release only for the current owner
// and token (ConditionalCheckFailed → checkpoints.ErrLeaseLost). View is one
// consistent Scan of the table: leases and heartbeats together.
//
// Items: a shard's lease is keyed by its shard id (ShardID) and keeps the
// KCL's attribute names for what the KCL had (AssignedTo, LeaseTimeout,
// Checkpoint), so a table written by the KCL keeps its checkpoints; a
// worker's heartbeat is keyed "worker#<id>" (Kind "worker"); the store's
// epoch (Bind) is the item "store#epoch" (Kind "epoch", Epoch,
// EpochCreatedMs).
//
// It must never write for a holding that is not current, never touch a
// checkpoint on acquisition, and never call DynamoDB per record.
package dynamodb

// Package redis is shardflow's default lease and checkpoint store: a KCL
// checkpoint.Checkpointer on Redis whose checkpoint writes are fenced by
// lease ownership (DESIGN "Delivery guarantees" 2).
//
// # Why
//
// The KCL's own DynamoDB store writes checkpoints unconditionally and lets a
// paused worker renew a lease that another worker has taken in the meantime
// (shared/notes/kcl-v1.0.0.md, defect 1): a worker resumed after SIGSTOP
// wrote its older checkpoint back and the shard was read twice. Here every
// lease acquisition by a new holder increments a per-shard fencing token, the
// worker remembers the token it was given, and a renewal, a checkpoint or a
// release is accepted only from the owner that still holds the current token
// on a live lease. Everything else fails with ErrLeaseLost, which is final
// for that holding: the consumer must stop the shard and never write for it
// again; a later acquisition starts over from the stored checkpoint with a
// new token.
//
// # What it owns
//
// One hash per shard and one set per application, all under the single hash
// tag {<application>} so that every script's keys sit in one cluster slot
// (ElastiCache cluster mode):
//
//	<prefix>:{<app>}:lease:<shardId>   hash
//	    owner             worker id holding the lease ("" or absent: free)
//	    lease_timeout_ms  Unix ms after which the lease is expired
//	    token             fencing token, +1 on every acquisition
//	    checkpoint        last checkpointed sequence number, or SHARD_END
//	    parent            parent shard id, written once (first write wins)
//	    claim_request     worker id asking to steal the lease (lease stealing)
//	<prefix>:{<app>}:shards            set of shard ids that have a hash
//
// <prefix> defaults to "sf"; <app> is Options.Application, else the KCL
// configuration's TableName, else its ApplicationName. Lease keys carry no
// TTL: a checkpoint must outlive any outage. AdjacentParentShardId is not
// stored because the KCL's ShardStatus does not carry it.
//
// Every mutating method is one Lua script (EVALSHA, falling back to EVAL),
// so a check and its write are atomic and cost one round trip; reads are one
// command or one pipeline. Lease times are computed from Options.Now (the
// workers' clocks, as the KCL itself does) and passed to the scripts.
//
// # What it must never do
//
//   - Write a checkpoint, renew or release a lease for a worker that is not
//     the current owner with the current token.
//   - Let a renewal or a checkpoint succeed on an expired lease: expiry is
//     loss, even when nobody has taken the lease yet.
//   - Overwrite a checkpoint from GetLease (the KCL's DynamoDB store does,
//     which is half of defect 1).
//   - Touch keys outside its application's hash tag, or call Redis per record.
//   - Let go-redis types reach the rest of shardflow beyond New.
//
// # Concurrency
//
// The KCL calls one Checkpointer from its event loop, from every shard
// consumer goroutine and from every lease-renewal goroutine. The tokens this
// worker holds live in a map behind one mutex, never held across a Redis
// call. A ShardStatus is written only under its Mux. For shards this worker
// holds, the lease fields of the ShardStatus (AssignedTo, LeaseTimeout,
// ClaimRequest) are written only by GetLease and CheckpointSequence: reads
// from Redis refresh other workers' shards, never ours, so the KCL's event
// loop cannot be talked into starting a second consumer for a shard whose
// first consumer is still running.
package redis

// Package redis is shardflow's default lease and checkpoint store
// (checkpoints.Store on Redis), fenced by lease ownership (DESIGN "Delivery
// guarantees" 2).
//
// # Why
//
// The KCL's own DynamoDB store writes checkpoints unconditionally and lets a
// paused worker renew a lease that another worker has taken in the meantime
// (shared/notes/kcl-v1.0.0.md, defect 1): a worker resumed after SIGSTOP
// wrote its older checkpoint back and the shard was read twice. Here every
// acquisition increments a per-shard fencing token, the worker remembers the
// token it was given, and a renewal, checkpoint, handoff or release is
// accepted only from the owner holding the current token on a live lease.
// Everything else fails with checkpoints.ErrLeaseLost, which is final for
// that holding.
//
// # What it owns
//
// One hash per shard, one set and one hash per application, all under the
// single hash tag {<application>} so that every script's keys sit in one
// cluster slot (ElastiCache cluster mode):
//
//	<prefix>:{<app>}:lease:<shardId>   hash
//	    owner              worker id holding the lease (absent: free)
//	    lease_timeout_ms   Unix ms after which the lease is expired
//	    token              fencing token, +1 on every acquisition
//	    checkpoint         last checkpointed sequence number, or SHARD_END
//	    successor          the worker a handoff names (kept after release)
//	    reserved_until_ms  until when only the successor may acquire
//	    acquired_ms        when the current owner acquired
//	    load               the shard's bytes/s as its owner last measured
//	<prefix>:{<app>}:shards            set of shard ids that have a hash
//	<prefix>:{<app>}:workers           hash worker id → "<expires ms> <leaving 0|1>"
//
// <prefix> defaults to "sf". Lease keys carry no TTL: a checkpoint must
// outlive any outage. Heartbeats that expired an hour ago are deleted by
// the next heartbeat of any worker.
//
// Every write is one Lua script (EVALSHA, falling back to EVAL), so a check
// and its write are atomic and cost one round trip — Renew renews every
// holding of a worker in one script; View is one pipeline. Times are
// computed by the caller (the workers' clocks, as the KCL does) and passed
// to the scripts.
//
// # What it must never do
//
//   - Write a checkpoint, renew, hand over or release for a worker that is
//     not the current owner with the current token.
//   - Let a renewal or a checkpoint succeed on an expired lease: expiry is
//     loss, even when nobody has taken the lease yet.
//   - Touch the checkpoint when a lease is acquired.
//   - Touch keys outside its application's hash tag, or call Redis per record.
//   - Let go-redis types reach the rest of shardflow beyond New.
package redis

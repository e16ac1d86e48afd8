// Package assign decides which worker should hold which shard. It is pure:
// given the same workers and shards (as read from the lease store), every
// worker computes the same plan, so that all of them agree without talking
// to each other.
//
// Two modes:
//
//   - Count: every eligible worker holds ⌊N/W⌋ or ⌈N/W⌉ of the N readable
//     shards (fewer when capped by its MaxShards). The extra shards go to
//     the workers that already hold the most, so a group that is within one
//     is a fixed point: nothing moves.
//   - Throughput: shards weigh their measured bytes/s. Free shards go to the
//     least loaded worker; then, one move per worker per cycle, a shard that
//     has stayed put for MinTenure moves from the busiest to the least busy
//     worker, only when that cuts the busier side by Margin of the mean
//     worker load (hysteresis, so that measurement noise never makes leases
//     flap).
//
// A shard being handed over counts for its successor; a shard whose owner
// is leaving or gone is free. The plan says where shards should be; moving
// them (acquire, handoff) is the consumer's job.
//
// It must never do I/O, read a clock (Now is an input) or keep state
// between calls.
package assign

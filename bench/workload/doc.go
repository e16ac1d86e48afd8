// Package workload generates the reference click-event workload: ~300-byte
// JSON events (event_id, user_id of 50,000, page of 200, country of 40, ts,
// price 0 for 80%, a ~120-character user_agent), deterministic for a seed.
// Event times advance steadily from a start time; a configurable fraction
// arrives late (its ts up to 30 s in the past).
//
// It is used by `shardflow produce`, the demo and the benchmarks. It owns no
// goroutines; a Generator is for one goroutine at a time.
//
// It never reads the clock or a global random source: the same seed gives
// the same events.
package workload

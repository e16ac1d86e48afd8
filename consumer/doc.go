// Package consumer reads a Kinesis stream as one worker of an application:
// it decides, together with the application's other workers and through the
// lease store alone, which worker reads which shard, and hands each shard's
// batches to a Handler, advancing a shard's checkpoint only past records
// whose every derived output has acked (DESIGN "Checkpoint rule").
//
// # Who reads what
//
// Every coordination cycle (CoordinationInterval) the coordinator
// heartbeats, renews every lease this worker holds in one store call, reads
// the store's view (live workers, every shard's lease), and computes the
// same plan every worker computes from that view (consumer/assign): by
// count, ⌊N/W⌋ or ⌈N/W⌉ shards each, or by measured throughput. It then
// acquires, all in the same cycle, the free shards the plan gives it, and
// hands over the shards the plan gives to others: it names the successor in
// the store, the shard stops reading, waits for its in-flight batches to be
// acked (HandoffTimeout), checkpoints and releases the lease to the
// successor alone, which starts at exactly that checkpoint. A worker that
// stops renewing (crash, pause) loses its leases when they expire; the
// others take them over then. Children of a split or merge are assigned only
// once their parents reached SHARD_END.
//
// # What the KCL still does
//
// Each held shard is read by a runner: a vmware-go-kcl-v2 worker whose view
// of the stream is that one shard (its ListShards is answered locally) and
// whose lease store is the runner itself. The KCL so provides its polling
// reader — shard iterators, the GetRecords loop, throughput-exceeded
// retries, per-shard read limits, the record processor protocol and its
// shutdown (REQUESTED, TERMINATE) — while its lease taking, stealing and
// shard sync, which balanced badly (integer division, one lease per tick),
// are never consulted. consumer/kpl makes the KCL's de-aggregation safe.
//
// # A store that lost its data
//
// The coordinator binds the store's epoch at start and stops the worker for
// good (every shard stopped without a checkpoint, nothing written to the
// store again, SourceHealthy failing with the reason) when the store answers
// ErrStoreLost, or went back: a lease token lower than one it saw, or a
// checkpoint behind the one this process wrote under the same token. It
// must never take an emptied or older store for a new application and read
// from initial_position by itself.
//
// # Concurrency
//
// One goroutine, the coordinator's loop, owns the runners and every lease
// decision; Stop asks it to drain and waits. The KCL owns one goroutine per
// runner (its event loop) and one per shard reader, and calls the shard's
// processor from the latter: the processor starts no goroutines. Acks may
// arrive on any goroutine; they only mark entries in the shard's ackTracker,
// and checkpoints are written from the shard's reader goroutine, so a shard
// never has two checkpoint writers. A runner's stop (KCL worker shutdown)
// runs on a goroutine of the coordinator's wait group. Locks: Consumer.mu
// (processors by shard), Consumer.writtenMu, runner.mu, coordinator.endedMu and viewMu are
// leaves — none is held while taking another or across I/O.
//
// No KCL type leaves this package: the Handler sees flow.SourceRecord.
package consumer

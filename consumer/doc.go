// Package consumer reads a Kinesis stream through the KCL (vmware-go-kcl-v2)
// and hands each shard's batches to a Handler, advancing a shard's checkpoint
// only past records whose every derived output has acked (DESIGN "Checkpoint
// rule").
//
// Ownership: the KCL owns one goroutine per leased shard and calls that
// shard's processor from it; the processor never starts goroutines of its
// own. Acks may arrive on any goroutine; they only mark entries in the
// shard's ackTracker, and checkpoints are written from the shard's KCL
// goroutine (on the next ProcessRecords call or at shutdown), so a shard
// never has two checkpoint writers.
//
// No KCL type leaves this package: the Handler sees flow.SourceRecord.
package consumer

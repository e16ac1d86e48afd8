package consumer

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kcl "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// shardProcessor is the KCL record processor of one leased shard. All its
// methods run on the shard's KCL goroutine.
type shardProcessor struct {
	c     *Consumer
	r     *runner
	shard string
	log   *slog.Logger
	acks  *ackTracker
	// slots bounds the batches in flight; a batch takes a slot before it is
	// handed over and its ack gives it back.
	slots          chan struct{}
	recs           []flow.SourceRecord // reused across calls
	lastCheckpoint time.Time
	reportedFail   bool
	// gateOpen is set once every parent shard has finished; until then no
	// record of this shard is handed over.
	gateOpen bool
	// finishedShard is set once SHARD_END is written.
	finishedShard bool
	// lost is set when the lease is known lost: nothing more is handed over
	// or checkpointed for this shard by this processor. Set from the
	// coordinator's goroutine, read on the shard's.
	lost atomic.Bool
	// ended makes LeaseLost the processor's last hook call, exactly once.
	ended atomic.Bool
	// checkpointFails counts checkpoint writes failed in a row (the
	// shard's goroutine only).
	checkpointFails int
}

func (p *shardProcessor) Initialize(in *kcl.InitializationInput) {
	p.shard = in.ShardId
	p.log = p.r.log
	p.slots = make(chan struct{}, p.c.cfg.MaxInFlightBatches)
	p.c.register(p)
	p.c.cfg.Hooks.LeaseGained(p.shard)
	if o, ok := p.c.handler.(ShardObserver); ok {
		o.ShardStarted(p.shard)
	}
	p.log.Info("shard lease taken", "checkpoint", aws.ToString(in.ExtendedSequenceNumber.SequenceNumber),
		"token", p.r.hold.Token)
}

func (p *shardProcessor) ProcessRecords(in *kcl.ProcessRecordsInput) {
	if p.lost.Load() || !p.leaseHeld() {
		return
	}
	p.checkpoint(in.Checkpointer, false)
	if p.r.isStopping() {
		return // not handed over, not checkpointed: the successor reads it
	}
	obs, observes := p.c.handler.(ReadObserver)
	if len(in.Records) == 0 {
		p.c.cfg.Hooks.RecordsRead(p.shard, 0, 0, in.MillisBehindLatest)
		// Also while a child waits for its parents: an empty read says
		// the child holds nothing, and a shard that is never reported
		// would hold the windows' watermark for good.
		if observes {
			obs.ShardRead(p.shard, 0, in.MillisBehindLatest)
		}
		return
	}
	if p.lost.Load() {
		return
	}
	// Reported before the waits below (parents, a failed output, a free
	// slot): the shard has rows on their way, and while it waits no
	// further read is reported, so it holds the watermark as stalled.
	if observes {
		obs.ShardRead(p.shard, len(in.Records), in.MillisBehindLatest)
	}
	if !p.gateOpen && !p.waitForParents() {
		return // stopping: the records are not handed over, so not checkpointed
	}
	if err := p.acks.err(); err != nil {
		// An output gave up on an earlier batch: this shard's checkpoint
		// is frozen. Reading on would only pile up work that cannot be
		// checkpointed, so hold the shard until the process is restarted
		// (or drained) and the records are replayed from the checkpoint.
		if !p.reportedFail {
			p.log.Error("output failed; checkpoints stopped for this shard until restart", "err", err)
			p.reportedFail = true
		}
		select {
		case <-p.r.stopping:
		case <-p.c.hardCtx.Done():
		}
		return
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.r.stopping:
		return
	case <-p.c.hardCtx.Done():
		return
	}
	p.recs = p.recs[:0]
	var prevSeq string
	var sub int64
	bytes := 0
	for i := range in.Records {
		r := &in.Records[i]
		seq := aws.ToString(r.SequenceNumber)
		bytes += len(r.Data)
		// Sub-records of one KPL aggregate share its sequence number and
		// arrive together, in order: number them.
		if seq == prevSeq {
			sub++
		} else {
			sub, prevSeq = 0, seq
		}
		rec := flow.SourceRecord{
			Data:           r.Data,
			PartitionKey:   aws.ToString(r.PartitionKey),
			SequenceNumber: seq,
			SubSequence:    sub,
			ArrivalTime:    aws.ToTime(r.ApproximateArrivalTimestamp),
		}
		// A corrupt KPL aggregate reaches us marked (see consumer/kpl):
		// it goes to dead-letter with its reason and original bytes.
		if reason, raw, bad := kpl.ParseCorrupt(r.Data); bad {
			rec.Rejected, rec.Data = reason, raw
		}
		p.recs = append(p.recs, rec)
	}
	p.r.bytesRead.Add(int64(bytes))
	last := p.recs[len(p.recs)-1]
	ack := p.acks.add(last.SequenceNumber, last.ArrivalTime)
	n, handed, hooks, shard := len(p.recs), time.Now(), p.c.cfg.Hooks, p.shard
	release := func(err error) {
		<-p.slots
		hooks.BatchAcked(shard, n, time.Since(handed), err)
		ack(err)
	}
	if err := p.c.handler.HandleBatch(p.c.hardCtx, p.shard, p.recs, release); err != nil {
		release(err)
		p.log.Error("batch not accepted", "last_sequence", last.SequenceNumber, "err", err)
		return
	}
	hooks.RecordsRead(p.shard, n, bytes, in.MillisBehindLatest)
}

func (p *shardProcessor) Shutdown(in *kcl.ShutdownInput) {
	defer p.c.unregister(p)
	reason := aws.ToString(kcl.ShutdownReasonMessage(in.ShutdownReason))
	if in.ShutdownReason == kcl.ZOMBIE || p.lost.Load() {
		if !p.ended.Load() { // markLost has said it otherwise
			p.log.Warn("shard lease lost; not checkpointing", "reason", reason)
		}
		p.end(metrics.LeaseExpired)
		return
	}
	// Wait for everything handed over to be acked (or for the drain budget
	// to run out), then checkpoint what is acked.
	if o, ok := p.c.handler.(DrainObserver); ok && in.ShutdownReason == kcl.REQUESTED && p.acks.inFlight() > 0 {
		o.ShardDraining(p.shard)
	}
	select {
	case <-p.acks.idleCh():
	case <-p.r.drainCtx.Done():
	}
	// A finished shard with no records of its own must still not let its
	// children start before its own parents are done (grandchildren would
	// overtake grandparents).
	if in.ShutdownReason == kcl.TERMINATE && !p.gateOpen && !p.waitForParents() {
		p.log.Info("shard ended but its parents have not; not writing SHARD_END", "reason", reason)
		p.end(metrics.LeaseReleased)
		return
	}
	if in.ShutdownReason == kcl.TERMINATE && p.acks.inFlight() == 0 && p.acks.err() == nil {
		p.checkpoint(in.Checkpointer, true)
		if o, ok := p.c.handler.(ShardObserver); ok {
			if err := o.ShardFinished(p.c.hardCtx, p.shard); err != nil {
				p.log.Error("shard finished but its state could not be marked so", "err", err)
			}
		}
		// SHARD_END lets the children start: only now, with every record
		// of the parent durable.
		if err := in.Checkpointer.Checkpoint(nil); err != nil {
			p.log.Error("checkpoint SHARD_END", "err", err)
			return
		}
		p.finishedShard = true
		p.log.Info("shard finished (SHARD_END)")
		p.end(metrics.LeaseShardEnd)
		return
	}
	p.checkpoint(in.Checkpointer, true)
	unacked := p.acks.inFlight()
	if to := p.r.successorName(); to != "" && p.r.isStopping() {
		p.log.Info("shard handed over", "successor", to, "unacked_batches", unacked)
		p.end(metrics.LeaseHandedOver)
		return
	}
	p.log.Info("shard released", "reason", reason, "unacked_batches", unacked)
	p.end(metrics.LeaseReleased)
}

// abandon ends the processor whose reader gave up by itself.
func (p *shardProcessor) abandon() {
	p.c.unregister(p)
	p.end(metrics.LeaseReaderFailed)
}

// checkpoint writes the acked position when it moved and the interval has
// passed (or force).
func (p *shardProcessor) checkpoint(cp kcl.IRecordProcessorCheckpointer, force bool) {
	if !force && time.Since(p.lastCheckpoint) < p.c.cfg.CheckpointInterval {
		return
	}
	seq, arrival := p.acks.takeCheckpoint()
	if seq == "" {
		return
	}
	if err := cp.Checkpoint(aws.String(seq)); err != nil {
		if errors.Is(err, checkpoints.ErrLeaseLost) {
			p.markLost(err)
			return
		}
		// A store that does not answer (a Redis failover, a throttled
		// table) is retried with the next batch: a warning, once per 30
		// failures in a row; the checkpoint lag metric and its alert say
		// when it lasts.
		if p.checkpointFails++; p.checkpointFails%30 == 1 {
			p.log.Warn("checkpoint not written; retrying with the next batch", "sequence", seq,
				"failures_in_a_row", p.checkpointFails, "err", err)
		}
		// Put it back: the next call retries the same or a later position.
		p.acks.mu.Lock()
		if p.acks.acked == "" {
			p.acks.acked = seq
		}
		p.acks.mu.Unlock()
		return
	}
	if p.checkpointFails > 0 {
		p.log.Info("checkpoint written again", "sequence", seq, "failures_before", p.checkpointFails)
		p.checkpointFails = 0
	}
	p.lastCheckpoint = time.Now()
	p.c.cfg.Hooks.Checkpointed(p.shard, p.lastCheckpoint.Sub(arrival))
}

// leaseHeld checks the runner's local lease expiry (no I/O).
func (p *shardProcessor) leaseHeld() bool {
	if p.r.held() {
		return true
	}
	p.markLost(errors.New("lease expired locally (paused or partitioned?)"))
	return false
}

// markLost stops the processor for good; it logs once.
func (p *shardProcessor) markLost(err error) {
	if p.lost.Swap(true) {
		return
	}
	p.log.Warn("lease lost: this worker stops processing the shard", "err", err)
	p.c.unregister(p)
	reason := metrics.LeaseExpired
	if errors.Is(err, checkpoints.ErrLeaseLost) {
		reason = metrics.LeaseFenced
	}
	p.end(reason)
}

// end reports the end of this processor's lease, once.
func (p *shardProcessor) end(reason string) {
	if !p.ended.Swap(true) {
		if o, ok := p.c.handler.(ShardObserver); ok {
			o.ShardReleased(p.shard)
		}
		p.c.cfg.Hooks.LeaseLost(p.shard, reason)
	}
}

// waitForParents blocks until every parent of the shard has finished,
// polling the store once per coordination interval. It returns false when
// the shard is being stopped. The coordinator assigns only readable shards,
// so this gate matters only when views disagree (a listing older than a
// split) — it keeps parent-before-child whatever the assignment says.
func (p *shardProcessor) waitForParents() bool {
	logged := false
	for {
		done, err := p.c.parentsDone(p.c.hardCtx, p.shard)
		if err != nil {
			p.log.Warn("checking parent shards", "err", err)
		}
		if done {
			if logged {
				p.log.Info("parent shards finished; processing the child")
			}
			p.gateOpen = true
			return true
		}
		if !logged {
			p.log.Info("holding child shard until its parents reach SHARD_END")
			logged = true
		}
		select {
		case <-p.r.stopping:
			return false
		case <-p.c.hardCtx.Done():
			return false
		case <-time.After(p.c.cfg.CoordinationInterval):
		}
		if p.lost.Load() || !p.leaseHeld() {
			return false
		}
	}
}

// parentsDone reports whether every parent of shard has finished: its
// checkpoint is SHARD_END, or it is no longer in the stream.
func (c *Consumer) parentsDone(ctx context.Context, shard string) (bool, error) {
	s, ok := c.graph.lookup(shard)
	if !ok {
		if err := c.graph.refresh(ctx); err != nil {
			return false, err
		}
		if s, ok = c.graph.lookup(shard); !ok {
			return false, errors.New("consumer: shard " + shard + " of " + c.cfg.Stream + " is not listed")
		}
	}
	if len(s.Parents) == 0 {
		return true, nil
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v, err := c.store.View(cctx, s.Parents, time.Now())
	if err != nil {
		return false, err
	}
	_, byID, listed := c.graph.snapshot()
	if !readable(s, byID, v.Leases) {
		// A parent that left the stream since the last listing is done:
		// list again now and then, not every poll.
		if time.Since(listed) > parentRelistInterval {
			if err := c.graph.refresh(ctx); err != nil {
				return false, err
			}
			_, byID, _ = c.graph.snapshot()
			return readable(s, byID, v.Leases), nil
		}
		return false, nil
	}
	return true, nil
}

// parentRelistInterval bounds how often a waiting child re-lists shards to
// learn whether a parent left the stream.
const parentRelistInterval = 10 * time.Second

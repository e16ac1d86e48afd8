package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	kcl "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker"

	"github.com/shardflow/shardflow/checkpoints"
)

// runnerTick is the shard sync interval of a runner's KCL worker: its first
// tick, 50-150% of it after Start, launches the shard's reader. Later ticks
// only look at the one shard the runner's listing shows (no I/O).
const runnerTick = 400 * time.Millisecond

// runner reads one leased shard: a KCL worker whose view of the stream is
// that shard alone (its ListShards is answered from the consumer's listing)
// and whose lease store is this runner, so that the KCL's polling reader
// (GetRecords loop, iterators, throughput retries, per-shard rate limits,
// record processor protocol) is used while every decision about who reads
// what stays with the coordinator.
//
// Lifecycle: the coordinator acquires the lease and starts the runner; the
// KCL worker's first tick launches the reader; the coordinator renews the
// lease each cycle; stop (handoff or drain) shuts the KCL worker down, which
// makes the processor drain, checkpoint and return; the reader's end
// (RemoveLeaseOwner from the KCL) releases the lease — to the successor, if
// any — and reports the runner ended.
type runner struct {
	c     *Consumer
	shard string
	hold  checkpoints.Holding
	log   *slog.Logger
	meta  types.Shard // what the KCL worker's ListShards shows

	// expiryMs is the lease's local expiry: renewals and checkpoints
	// move it; past it the processor hands nothing over.
	expiryMs atomic.Int64
	lost     atomic.Bool
	launched atomic.Bool
	// bytesRead counts payload bytes read (the load meter's input).
	bytesRead atomic.Int64
	load      float64 // smoothed bytes/s; coordinator goroutine only
	loadAt    time.Time
	acquired  time.Time

	// stopping is closed when the coordinator stops the runner (handoff,
	// drain): the processor stops handing batches over and drains.
	stopping chan struct{}
	stopOnce sync.Once
	// drainCtx ends when a stopping runner's drain budget is spent (or
	// the consumer's hard stop): the processor stops waiting for acks.
	drainCtx  context.Context
	drainStop context.CancelFunc

	mu        sync.Mutex
	successor string // set by stop
	proc      *shardProcessor
	// checkpointed is the last sequence this runner wrote (FetchCheckpoint
	// answers from it).
	checkpointed string

	w        *worker.Worker
	finished sync.Once
	ended    chan struct{} // closed once the reader ended and the lease was released
	endKind  endKind       // under mu
	endErr   error         // under mu: why the reader ended, when it failed
}

// outcome is how and why the runner ended (valid once ended is closed).
func (r *runner) outcome() (endKind, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endKind, r.endErr
}

type endKind int

const (
	endStopped  endKind = iota // asked to stop (handoff, drain)
	endShardEnd                // SHARD_END written
	endLost                    // lease lost
	endFailed                  // the reader ended by itself (a Kinesis error)
)

func newRunner(c *Consumer, l checkpoints.Lease, meta Shard, now time.Time) *runner {
	r := &runner{
		c: c, shard: l.Shard, checkpointed: l.Checkpoint,
		hold:     checkpoints.Holding{Shard: l.Shard, Worker: c.cfg.WorkerID, Token: l.Token},
		log:      c.log.With("shard", l.Shard),
		stopping: make(chan struct{}), ended: make(chan struct{}),
		loadAt: now, load: l.Load, acquired: now,
		meta: types.Shard{ShardId: aws.String(l.Shard), SequenceNumberRange: &meta.Range},
	}
	if r.meta.SequenceNumberRange.StartingSequenceNumber == nil {
		r.meta.SequenceNumberRange = &types.SequenceNumberRange{StartingSequenceNumber: aws.String("0")}
	}
	r.drainCtx, r.drainStop = context.WithCancel(c.hardCtx)
	r.extend(l.Expires)
	return r
}

// run starts the KCL worker.
func (r *runner) run() error {
	cfg := r.c.cfg
	k := kclcfg.NewKinesisClientLibConfigWithCredential(cfg.Application, cfg.Stream, cfg.AWS.Region, cfg.WorkerID, cfg.AWS.Credentials).
		WithInitialPositionInStream(initialPosition(cfg.InitialPosition)).
		WithFailoverTimeMillis(ms(cfg.LeaseDuration)).
		WithShardSyncIntervalMillis(ms(runnerTick)).
		WithMaxRecords(cfg.MaxRecords).
		WithIdleTimeBetweenReadsInMillis(ms(cfg.IdleTimeBetweenReads)).
		// Empty reads still call ProcessRecords so acks that arrived since
		// the last batch reach the checkpoint without waiting for traffic.
		WithCallProcessRecordsEvenForEmptyRecordList(true).
		WithMaxLeasesForWorker(1).
		WithLogger(kclLogger{l: r.log, r: r}).
		WithTableName(cfg.Application)
	// The KCL's renewal timer asks this runner (no I/O): the coordinator
	// renews in the store.
	k.LeaseRefreshWaitTime = 500
	if cfg.InitialPosition == "AT_TIMESTAMP" {
		ts := cfg.AtTimestamp
		k = k.WithTimestampAtInitialPositionInStream(&ts)
	}
	kc := kinesis.New(r.c.kc.Options(), func(o *kinesis.Options) {
		o.APIOptions = append(slices.Clip(o.APIOptions), r.oneShardListing, r.countErrors)
	})
	r.w = worker.NewWorker(r, k).WithKinesis(kc).WithCheckpointer(kclStore{r})
	if err := r.w.Start(); err != nil {
		return fmt.Errorf("consumer: start reader of shard %s: %w", r.shard, err)
	}
	return nil
}

// CreateProcessor implements the KCL's record processor factory.
func (r *runner) CreateProcessor() kcl.IRecordProcessor {
	p := &shardProcessor{c: r.c, r: r, acks: newAckTracker()}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
	return p
}

// oneShardListing answers the KCL worker's ListShards with this runner's
// shard alone, without calling Kinesis.
func (r *runner) oneShardListing(stack *middleware.Stack) error {
	if stack.ID() != "ListShards" {
		return nil
	}
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("shardflowOneShard",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return middleware.InitializeOutput{Result: &kinesis.ListShardsOutput{Shards: []types.Shard{r.meta}}}, middleware.Metadata{}, nil
		}), middleware.Before)
}

// countErrors counts the reader's failed Kinesis calls by API and code.
func (r *runner) countErrors(stack *middleware.Stack) error {
	api := stack.ID()
	if api == "ListShards" {
		return nil
	}
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("shardflowCountErrors",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil {
				r.c.health.apiError(api, err)
				r.c.health.readFailed(r.shard, time.Now(), err)
			} else if api == "GetRecords" {
				r.c.health.readOK(r.shard)
			}
			return out, md, err
		}), middleware.After)
}

// extend moves the local lease expiry forward (never back).
func (r *runner) extend(exp time.Time) {
	ms := exp.UnixMilli()
	for {
		cur := r.expiryMs.Load()
		if ms <= cur || r.expiryMs.CompareAndSwap(cur, ms) {
			return
		}
	}
}

// held reports whether the lease is still this runner's by the local clock.
func (r *runner) held() bool {
	return !r.lost.Load() && time.Now().UnixMilli() <= r.expiryMs.Load()
}

// markLost records that the lease is gone: nothing more is handed over or
// written for the shard by this runner, and its reader is stopped.
func (r *runner) markLost(err error) {
	if r.isEnded() || r.lost.Swap(true) {
		return
	}
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	if p != nil {
		p.markLost(err)
	} else {
		r.log.Warn("lease lost before the shard's reader started", "err", err)
	}
	r.stop("", 0, &r.c.coord.stops)
}

func (r *runner) isEnded() bool {
	select {
	case <-r.ended:
		return true
	default:
		return false
	}
}

// stop asks the runner to hand the shard to successor ("" for none) and
// returns at once; the drain runs in the KCL worker's shutdown, owned by the
// coordinator's wait group.
func (r *runner) stop(successor string, budget time.Duration, wg *sync.WaitGroup) {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.successor = successor
		r.mu.Unlock()
		if budget > 0 {
			// Past the budget the processor stops waiting for acks: what
			// is unacked is replayed by the successor.
			time.AfterFunc(budget, r.drainStop)
		}
		close(r.stopping)
		wg.Add(1)
		go func() { // owned by the coordinator: it waits on wg
			defer wg.Done()
			r.w.Shutdown()
			r.finish(endStopped, nil) // the reader never launched: nobody released
		}()
	})
}

func (r *runner) isStopping() bool {
	select {
	case <-r.stopping:
		return true
	default:
		return false
	}
}

func (r *runner) successorName() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.successor
}

// finish releases the lease (unless lost) and reports the runner ended;
// only the first call counts.
func (r *runner) finish(kind endKind, err error) {
	r.finished.Do(func() {
		successor := ""
		if kind == endStopped {
			successor = r.successorName()
		}
		if r.lost.Load() {
			kind = endLost
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			rerr := r.c.store.Release(ctx, r.hold, successor, time.Now(), r.c.reservation())
			cancel()
			if rerr != nil && !errors.Is(rerr, checkpoints.ErrLeaseLost) {
				// The lease expires by itself; the successor waits for it.
				r.log.Warn("release lease", "err", rerr)
			}
		}
		r.mu.Lock()
		r.endKind, r.endErr = kind, err
		r.mu.Unlock()
		r.drainStop()
		close(r.ended)
		r.c.coord.runnerEnded(r)
	})
}

// opTimeout bounds a store call made outside the coordinator's cycle.
const opTimeout = 5 * time.Second

// kclStore is the KCL worker's checkpoint.Checkpointer: it answers from the
// runner's holding and writes checkpoints through the fenced store.
type kclStore struct{ r *runner }

var _ chk.Checkpointer = kclStore{}

func (s kclStore) Init() error { return nil }

// GetLease: the worker's first acquisition launches the reader once; later
// calls are the reader's renewal timer, answered from the holding.
func (s kclStore) GetLease(shard *par.ShardStatus, owner string) error {
	r := s.r
	if shard.ID != r.shard {
		return chk.ErrLeaseNotAcquired{}
	}
	if r.launched.CompareAndSwap(false, true) {
		if r.isStopping() || !r.held() {
			return chk.ErrLeaseNotAcquired{}
		}
		shard.Mux.Lock()
		shard.AssignedTo = owner
		shard.LeaseTimeout = time.UnixMilli(r.expiryMs.Load()).UTC()
		shard.Mux.Unlock()
		return nil
	}
	if shard.GetLeaseOwner() != owner {
		return chk.ErrLeaseNotAcquired{} // the worker tries again after the reader ended
	}
	// The reader's renewal timer: the coordinator renews in the store, and
	// a lost lease stops the reader through the KCL's shutdown (the
	// processor, which knows the loss, then writes nothing).
	return nil
}

// FetchCheckpoint answers from the runner: the checkpoint at acquisition or
// the last one it wrote. The KCL compares the sentinel with ==.
func (s kclStore) FetchCheckpoint(shard *par.ShardStatus) error {
	r := s.r
	if shard.ID != r.shard {
		return chk.ErrSequenceIDNotFound
	}
	r.mu.Lock()
	cp := r.checkpointed
	r.mu.Unlock()
	if cp == "" {
		return chk.ErrSequenceIDNotFound
	}
	shard.Mux.Lock()
	shard.Checkpoint = cp
	shard.Mux.Unlock()
	return nil
}

// CheckpointSequence writes the shard's checkpoint, fenced by the holding.
func (s kclStore) CheckpointSequence(shard *par.ShardStatus) error {
	r := s.r
	seq := shard.GetCheckpoint()
	if r.lost.Load() || !r.held() {
		return fmt.Errorf("shard %s: lease expired locally: %w", r.shard, checkpoints.ErrLeaseLost)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	now := time.Now()
	err := r.c.store.Checkpoint(ctx, r.hold, seq, now, r.c.cfg.LeaseDuration)
	if errors.Is(err, checkpoints.ErrLeaseLost) {
		r.markLost(err)
	}
	if err != nil {
		return err
	}
	r.extend(now.Add(r.c.cfg.LeaseDuration))
	r.c.noteCheckpoint(r.shard, seq, r.hold.Token)
	r.mu.Lock()
	r.checkpointed = seq
	r.mu.Unlock()
	return nil
}

// RemoveLeaseOwner is the KCL's release when the reader ends, for any
// reason: the runner is finished.
func (s kclStore) RemoveLeaseOwner(shardID string) error {
	r := s.r
	if shardID != r.shard {
		return nil
	}
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	switch {
	case r.isStopping():
		r.finish(endStopped, nil)
	case p != nil && p.finishedShard:
		r.finish(endShardEnd, nil)
	case r.lost.Load():
		r.finish(endLost, nil)
	default:
		// The reader gave up by itself (a Kinesis error the KCL does not
		// retry): what it handed over may still be acked, but the next
		// holding starts again from the checkpoint.
		if p != nil {
			p.abandon()
		}
		r.finish(endFailed, r.lastReadError())
	}
	return nil
}

func (r *runner) lastReadError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.endErr != nil {
		return r.endErr
	}
	return errors.New("the shard's reader ended (see the log for the Kinesis error)")
}

// readerError records the error the KCL's reader ended with (from its log).
func (r *runner) readerError(err error) {
	r.mu.Lock()
	r.endErr = err
	r.mu.Unlock()
}

func (kclStore) RemoveLeaseInfo(string) error { return nil }
func (s kclStore) GetLeaseOwner(shardID string) (string, error) {
	if shardID == s.r.shard && s.r.held() {
		return s.r.hold.Worker, nil
	}
	return "", chk.NoLeaseOwnerErr
}
func (kclStore) ListActiveWorkers(map[string]*par.ShardStatus) (map[string][]*par.ShardStatus, error) {
	return nil, errors.New("consumer: lease stealing is shardflow's, not the KCL's")
}
func (kclStore) ClaimShard(*par.ShardStatus, string) error {
	return errors.New("consumer: lease stealing is shardflow's, not the KCL's")
}

func initialPosition(s string) kclcfg.InitialPositionInStream {
	switch s {
	case "LATEST":
		return kclcfg.LATEST
	case "AT_TIMESTAMP":
		return kclcfg.AT_TIMESTAMP
	}
	return kclcfg.TRIM_HORIZON
}

package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	kcl "github.com/vmware/vmware-go-kcl-v2/clientlibrary/interfaces"
	"github.com/vmware/vmware-go-kcl-v2/clientlibrary/worker"

	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// Handler receives one shard's records, one KCL batch at a time, on that
// shard's goroutine. It must call ack exactly once, from any goroutine, when
// everything derived from recs is durable (nil) or was given up on (error).
// recs and their Data are valid only until HandleBatch returns. A returned
// error means the batch was not accepted and ack will not be called.
type Handler interface {
	HandleBatch(ctx context.Context, shard string, recs []flow.SourceRecord, ack flow.Ack) error
}

// ShardObserver is implemented by a Handler that keeps state per shard
// (window operators): it hears when this worker takes a shard, finishes
// one, or lets one go. Calls come from the shard's goroutine.
type ShardObserver interface {
	// ShardStarted: this worker took the shard's lease; batches follow.
	ShardStarted(shard string)
	// ShardFinished: the shard reached SHARD_END and every batch of it is
	// acked; called before SHARD_END is written.
	ShardFinished(ctx context.Context, shard string) error
	// ShardReleased: the lease was lost or released; anything still held
	// for the shard will be replayed by its next owner.
	ShardReleased(shard string)
}

// ReadObserver is implemented by a Handler that needs to know how far each
// shard's reader is behind (window operators decide idleness from it).
// ShardRead is called on the shard's goroutine after every GetRecords
// result this worker handles, empty ones included, before the batch (if
// any) is handed to HandleBatch: records is the batch's size and
// millisBehindLatest the stream's MillisBehindLatest for that read (0: the
// reader is caught up). A reader that stalls, is throttled or fails makes
// no call at all, so silence must never be read as "caught up".
type ReadObserver interface {
	ShardRead(shard string, records int, millisBehindLatest int64)
}

// StoreFactory builds a worker's lease and checkpoint store from the KCL
// configuration the consumer derives (worker id, table, lease duration).
// The stores in checkpoints/ provide one as a method value, so callers pass
// it along without naming KCL types.
type StoreFactory = func(*kclcfg.KinesisClientLibConfiguration) chk.Checkpointer

// Config configures a Consumer. AWS carries region and credentials.
type Config struct {
	Application string
	Stream      string
	WorkerID    string // default: hostname-pid
	AWS         aws.Config
	// KinesisEndpoint overrides the Kinesis endpoint (local stand-ins).
	KinesisEndpoint string
	// LeaseTable names the lease/checkpoint table (or key space).
	LeaseTable string
	// Checkpointer builds the lease and checkpoint store for this worker's
	// KCL configuration (see checkpoints/).
	Checkpointer StoreFactory
	// MaxLeases caps the shards this worker holds (0: no cap).
	MaxLeases int
	// LeaseStealing lets an under-loaded worker claim shards from busier
	// ones so leases balance.
	LeaseStealing bool
	// AtTimestamp is the start time when InitialPosition is AT_TIMESTAMP.
	AtTimestamp time.Time
	// Hooks receives reads, acks, checkpoints and lease changes.
	Hooks metrics.Hooks
	// InitialPosition is "TRIM_HORIZON" or "LATEST".
	InitialPosition      string
	LeaseDuration        time.Duration
	ShardSyncInterval    time.Duration
	MaxRecords           int
	IdleTimeBetweenReads time.Duration
	MaxInFlightBatches   int
	CheckpointInterval   time.Duration
	Logger               *slog.Logger
}

// Consumer runs one KCL worker for one stream.
type Consumer struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	worker  *worker.Worker
	kc      *kinesis.Client
	store   chk.Checkpointer
	guard   *leaseGuard
	parents *shardGraph

	// hardCtx is cancelled when a drain runs out of time: it unblocks
	// processors waiting for acks or for room in flight.
	hardCtx    context.Context
	hardCancel context.CancelFunc
	// stopping is closed when a drain starts: processors stop handing over
	// new batches (they would only be replayed) and stop waiting for room.
	stopping chan struct{}

	mu      sync.Mutex
	shards  map[string]*shardProcessor
	stopped bool
}

// New checks the config and builds a consumer; Start begins reading.
func New(cfg Config, h Handler) (*Consumer, error) {
	if cfg.Application == "" || cfg.Stream == "" {
		return nil, errors.New("consumer: application and stream are required")
	}
	if cfg.Checkpointer == nil || cfg.LeaseTable == "" {
		return nil, errors.New("consumer: a checkpointer and a lease table are required")
	}
	if cfg.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.WorkerID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Hooks = metrics.OrNop(cfg.Hooks)
	if cfg.MaxInFlightBatches < 1 {
		cfg.MaxInFlightBatches = 1
	}
	c := &Consumer{
		cfg:      cfg,
		handler:  h,
		log:      cfg.Logger.With("stream", cfg.Stream, "worker", cfg.WorkerID),
		shards:   map[string]*shardProcessor{},
		stopping: make(chan struct{}),
	}
	c.hardCtx, c.hardCancel = context.WithCancel(context.Background())
	return c, nil
}

// Start initialises the checkpointer and starts the KCL worker's loop.
func (c *Consumer) Start() error {
	k := kclcfg.NewKinesisClientLibConfigWithCredential(c.cfg.Application, c.cfg.Stream,
		c.cfg.AWS.Region, c.cfg.WorkerID, c.cfg.AWS.Credentials).
		WithInitialPositionInStream(initialPosition(c.cfg.InitialPosition)).
		WithFailoverTimeMillis(ms(c.cfg.LeaseDuration)).
		WithLeaseRefreshPeriodMillis(ms(c.cfg.LeaseDuration) / 2).
		WithShardSyncIntervalMillis(ms(c.cfg.ShardSyncInterval)).
		WithMaxRecords(c.cfg.MaxRecords).
		WithIdleTimeBetweenReadsInMillis(ms(c.cfg.IdleTimeBetweenReads)).
		// Empty reads still call ProcessRecords so acks that arrived since
		// the last batch reach the checkpoint without waiting for traffic.
		WithCallProcessRecordsEvenForEmptyRecordList(true).
		WithLogger(kclLogger{c.log}).
		WithTableName(c.cfg.LeaseTable)
	k.ParentShardPollIntervalMillis = ms(c.cfg.ShardSyncInterval)
	// Renew well before expiry: the KCL's default wait (2.5 s) is too long
	// for short leases.
	k.LeaseRefreshWaitTime = ms(c.cfg.LeaseDuration) / 3
	if c.cfg.MaxLeases > 0 {
		k = k.WithMaxLeasesForWorker(c.cfg.MaxLeases)
	}
	if c.cfg.LeaseStealing {
		k = k.WithLeaseStealing(true).
			WithLeaseStealingIntervalMillis(max(ms(c.cfg.ShardSyncInterval), 1000)).
			WithLeaseSyncingIntervalMillis(max(ms(c.cfg.ShardSyncInterval), 1000))
		// A claim left by a worker that died binds the shard for this long
		// after its lease timeout; the KCL's 120 s default stalls failover.
		k.LeaseStealingClaimTimeoutMillis = 2 * ms(c.cfg.LeaseDuration)
	}
	if c.cfg.InitialPosition == "AT_TIMESTAMP" {
		ts := c.cfg.AtTimestamp
		k = k.WithTimestampAtInitialPositionInStream(&ts)
	}
	if c.cfg.KinesisEndpoint != "" {
		k = k.WithKinesisEndpoint(c.cfg.KinesisEndpoint)
	}
	kc := kinesis.NewFromConfig(c.cfg.AWS, func(o *kinesis.Options) {
		if c.cfg.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.KinesisEndpoint)
		}
	}, kpl.WithSafeDeaggregation())
	c.kc = kc
	c.guard = newLeaseGuard(c.cfg.Checkpointer(k), c.leaseLost)
	c.store = c.guard
	c.parents = newShardGraph(kc, c.cfg.Stream)
	c.worker = worker.NewWorker(processorFactory{c}, k).WithKinesis(kc).WithCheckpointer(c.store)
	if err := c.worker.Start(); err != nil {
		return fmt.Errorf("consumer: start worker for stream %s: %w", c.cfg.Stream, err)
	}
	c.log.Info("consumer started", "application", c.cfg.Application)
	return nil
}

// Stop drains: every shard stops reading, waits for its in-flight batches to
// be acked, checkpoints and releases its lease. If ctx ends first, waiting
// processors are released without checkpointing what is unacked (it will be
// replayed) and Stop returns ctx's error once the worker has ended.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped || c.worker == nil {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	close(c.stopping)

	done := make(chan struct{})
	go func() { // owned by Stop: ends when the KCL worker has shut down
		defer close(done)
		c.worker.Shutdown()
	}()
	select {
	case <-done:
		c.hardCancel()
		return nil
	case <-ctx.Done():
		c.log.Warn("drain budget exhausted; unacked batches will be replayed by the next owner")
		c.hardCancel()
		<-done
		return fmt.Errorf("consumer: drain of stream %s: %w", c.cfg.Stream, ctx.Err())
	}
}

// Healthy reports the first output failure seen by any owned shard.
func (c *Consumer) Healthy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.shards {
		if err := p.acks.err(); err != nil {
			return fmt.Errorf("shard %s: %w", id, err)
		}
	}
	return nil
}

// OwnedShards lists the shards this worker is processing now.
func (c *Consumer) OwnedShards() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.shards))
	for id := range c.shards {
		ids = append(ids, id)
	}
	return ids
}

// leaseLost is called by the lease guard when a held lease is gone: the
// shard's current processor stops for good (the KCL will not tell it).
func (c *Consumer) leaseLost(shard string, err error) {
	c.mu.Lock()
	p := c.shards[shard]
	if p != nil {
		delete(c.shards, shard)
	}
	c.mu.Unlock()
	if p != nil {
		p.markLost(err)
	}
}

func (c *Consumer) register(p *shardProcessor) {
	c.mu.Lock()
	c.shards[p.shard] = p
	c.mu.Unlock()
}

func (c *Consumer) unregister(p *shardProcessor) {
	c.mu.Lock()
	if c.shards[p.shard] == p {
		delete(c.shards, p.shard)
	}
	c.mu.Unlock()
}

type processorFactory struct{ c *Consumer }

func (f processorFactory) CreateProcessor() kcl.IRecordProcessor {
	return &shardProcessor{c: f.c, acks: newAckTracker()}
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

func ms(d time.Duration) int { return int(d / time.Millisecond) }

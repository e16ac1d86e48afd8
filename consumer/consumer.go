package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/consumer/assign"
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
// result this worker handles, empty ones included (also while a child
// shard waits for its parents), before the batch (if any) waits for its
// parents or a free slot and is handed to HandleBatch: records is the
// batch's size and millisBehindLatest the stream's MillisBehindLatest for
// that read (0: the reader is caught up). A reader that stalls, is
// throttled, fails or waits makes no call at all, so silence must never be
// read as "caught up".
type ReadObserver interface {
	ShardRead(shard string, records int, millisBehindLatest int64)
}

// DrainObserver is implemented by a Handler whose outputs hold a shard's
// rows for a while before they ack (files that roll): ShardDraining is
// called on the shard's goroutine when the shard starts to drain for a
// handoff or a shutdown, before the drain waits for its acks, so that
// those outputs finish the shard's work now instead of at their next roll.
type DrainObserver interface {
	ShardDraining(shard string)
}

// Config configures a Consumer. AWS carries region and credentials.
type Config struct {
	Application string
	Stream      string
	WorkerID    string // default: hostname-pid
	AWS         aws.Config
	// KinesisEndpoint overrides the Kinesis endpoint (local stand-ins).
	KinesisEndpoint string
	// Store keeps leases, checkpoints and heartbeats (see checkpoints/).
	Store checkpoints.Store
	// MaxLeases caps the shards this worker holds (0: no cap).
	MaxLeases int
	// Balance weighs shards by count (default) or by measured throughput.
	Balance assign.Mode
	// BalanceMargin and BalanceMinTenure tune throughput balancing (see
	// consumer/assign); zero takes the defaults.
	BalanceMargin    float64
	BalanceMinTenure time.Duration
	// LoadHalfLife smooths each shard's measured bytes/s (default 30s).
	LoadHalfLife time.Duration
	// AtTimestamp is the start time when InitialPosition is AT_TIMESTAMP.
	AtTimestamp time.Time
	// Hooks receives reads, acks, checkpoints and lease changes.
	Hooks metrics.Hooks
	// InitialPosition is "TRIM_HORIZON", "LATEST" or "AT_TIMESTAMP".
	InitialPosition string
	// LeaseDuration is how long a lease (and a heartbeat) lasts without
	// renewal; a crashed worker's shards move after it.
	LeaseDuration time.Duration
	// CoordinationInterval is how often the worker heartbeats, renews its
	// leases, reads the store and acts on the plan (default
	// LeaseDuration/10, within 100ms..1s).
	CoordinationInterval time.Duration
	// ShardSyncInterval is how often the stream's shards are listed
	// (ListShards) to find new ones; a shard that ends triggers a listing
	// at once.
	ShardSyncInterval    time.Duration
	MaxRecords           int
	IdleTimeBetweenReads time.Duration
	MaxInFlightBatches   int
	CheckpointInterval   time.Duration
	// HandoffTimeout bounds how long a shard being handed over waits for
	// its in-flight batches; past it the successor replays what was not
	// acked (default 2 × LeaseDuration, at least 10s).
	HandoffTimeout time.Duration
	Logger         *slog.Logger
}

// Consumer runs one worker of an application on one stream: it takes part
// in lease assignment with the other workers (through the store) and reads
// the shards it holds, one KCL shard reader each.
type Consumer struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	kc      *kinesis.Client
	store   checkpoints.Store
	graph   *shardGraph
	health  *sourceHealth

	// hardCtx is cancelled when a drain runs out of time: it unblocks
	// processors waiting for acks or for room in flight.
	hardCtx    context.Context
	hardCancel context.CancelFunc

	coord *coordinator

	mu      sync.Mutex
	started bool
	stopped bool
	// shards are the processors of the shards this worker reads now.
	shards map[string]*shardProcessor

	// written is the last checkpoint this process wrote per shard (under
	// writtenMu): the coordinator compares the store's with it to notice a
	// store that went back to an older state.
	writtenMu sync.Mutex
	written   map[string]checkpointWrite
}

// checkpointWrite is a checkpoint this process wrote with a holding's token.
type checkpointWrite struct {
	seq   string
	token int64
}

// noteCheckpoint records a checkpoint the store acknowledged.
func (c *Consumer) noteCheckpoint(shard, seq string, token int64) {
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
	if c.written == nil {
		c.written = map[string]checkpointWrite{}
	}
	c.written[shard] = checkpointWrite{seq, token}
}

// checkpointsWritten is a copy of the checkpoints written so far.
func (c *Consumer) checkpointsWritten() map[string]checkpointWrite {
	c.writtenMu.Lock()
	defer c.writtenMu.Unlock()
	return maps.Clone(c.written)
}

// New checks the config and builds a consumer; Start begins reading.
func New(cfg Config, h Handler) (*Consumer, error) {
	if cfg.Application == "" || cfg.Stream == "" {
		return nil, errors.New("consumer: application and stream are required")
	}
	if cfg.Store == nil {
		return nil, errors.New("consumer: a lease store is required")
	}
	switch cfg.Balance {
	case "":
		cfg.Balance = assign.Count
	case assign.Count, assign.Throughput:
	default:
		return nil, fmt.Errorf("consumer: balance %q is not count or throughput", cfg.Balance)
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
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 10 * time.Second
	}
	if cfg.CoordinationInterval <= 0 {
		cfg.CoordinationInterval = min(max(cfg.LeaseDuration/10, 100*time.Millisecond), time.Second)
	}
	if cfg.CoordinationInterval*3 > cfg.LeaseDuration {
		return nil, fmt.Errorf("consumer: coordination interval %s leaves no room to renew leases of %s (want at most a third)",
			cfg.CoordinationInterval, cfg.LeaseDuration)
	}
	if cfg.ShardSyncInterval <= 0 {
		cfg.ShardSyncInterval = 10 * time.Second
	}
	if cfg.HandoffTimeout <= 0 {
		cfg.HandoffTimeout = max(2*cfg.LeaseDuration, 10*time.Second)
	}
	if cfg.LoadHalfLife <= 0 {
		cfg.LoadHalfLife = 30 * time.Second
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = 10000
	}
	if cfg.IdleTimeBetweenReads <= 0 {
		cfg.IdleTimeBetweenReads = 500 * time.Millisecond
	}
	c := &Consumer{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger.With("stream", cfg.Stream, "worker", cfg.WorkerID),
		store:   cfg.Store,
		shards:  map[string]*shardProcessor{},
	}
	c.hardCtx, c.hardCancel = context.WithCancel(context.Background())
	c.kc = kinesis.NewFromConfig(cfg.AWS, func(o *kinesis.Options) {
		if cfg.KinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.KinesisEndpoint)
		}
	}, kpl.WithSafeDeaggregation())
	c.health = newSourceHealth(cfg.Hooks)
	c.graph = newShardGraph(c.kc, cfg.Stream, c.health)
	c.coord = newCoordinator(c)
	return c, nil
}

// Start begins coordinating with the other workers and reading the shards
// this worker is assigned. It returns once the store answered and this
// worker is registered; shards follow within a few coordination cycles.
func (c *Consumer) Start() error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("consumer: started twice")
	}
	c.started = true
	c.mu.Unlock()
	if err := c.coord.start(); err != nil {
		return fmt.Errorf("consumer: start worker %s on stream %s: %w", c.cfg.WorkerID, c.cfg.Stream, err)
	}
	c.log.Info("consumer started", "application", c.cfg.Application, "store", c.store.Name(),
		"balance", string(c.cfg.Balance), "lease_duration", c.cfg.LeaseDuration)
	return nil
}

// Stop drains: this worker announces that it leaves, hands every shard it
// holds to the worker the plan names (each shard stops reading, waits for
// its in-flight batches to be acked, checkpoints and releases its lease to
// that successor), and deregisters. If ctx ends first, waiting processors
// are released without checkpointing what is unacked (the next owner
// replays it) and Stop returns ctx's error once every reader has ended.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.stopped || !c.started {
		c.stopped = true
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	err := c.coord.leave(ctx)
	c.hardCancel()
	if err != nil {
		c.log.Warn("drain budget exhausted; unacked batches will be replayed by the next owner")
		return fmt.Errorf("consumer: drain of stream %s: %w", c.cfg.Stream, err)
	}
	return nil
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

// SourceHealthy reports a source this worker cannot read: the stream could
// not be listed, or a shard's reader kept failing, for longer than grace;
// or readable shards have had no owner for longer than a lease.
func (c *Consumer) SourceHealthy(grace time.Duration) error {
	return c.health.check(time.Now(), grace, c.cfg.LeaseDuration, c.cfg.Stream)
}

// Live reports a worker whose coordination is wedged: no cycle read the
// lease store for three lease durations (a restart may help; /healthz).
func (c *Consumer) Live() error {
	last := c.coord.lastCycle.Load()
	if last == 0 {
		return nil // starting
	}
	if d := time.Since(time.UnixMilli(last)); d > 3*c.cfg.LeaseDuration {
		return fmt.Errorf("consumer: no coordination cycle of worker %s for %s (the lease store %s does not answer?)",
			c.cfg.WorkerID, d.Round(time.Second), c.store.Name())
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

// Assignment is this worker's view of the group, from its last
// coordination cycle.
type Assignment struct {
	Worker  string
	Workers []string // live workers, sorted
	// Held maps every readable shard to its live owner ("" when none).
	Held map[string]string
	// Balance is max/mean of the planned assignment (see assign.Plan).
	Balance float64
	At      time.Time
}

// Assignment returns the last view (zero before the first cycle).
func (c *Consumer) Assignment() Assignment { return c.coord.lastView() }

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

// reservation is how long a released shard waits for its named successor:
// three coordination cycles, enough for a live successor to take it, short
// enough that a successor that left meanwhile (two workers draining at
// once) delays the shard by seconds only.
func (c *Consumer) reservation() time.Duration {
	return max(3*c.cfg.CoordinationInterval, time.Second)
}

func ms(d time.Duration) int { return int(d / time.Millisecond) }

package pipeline

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/redis/go-redis/v9"

	ddbstore "github.com/shardflow/shardflow/checkpoints/dynamodb"
	redisstore "github.com/shardflow/shardflow/checkpoints/redis"
	"github.com/shardflow/shardflow/consumer"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/opsserver"
	"github.com/shardflow/shardflow/internal/statuspage"
	"github.com/shardflow/shardflow/metrics"
	"github.com/shardflow/shardflow/metrics/emf"
	"github.com/shardflow/shardflow/metrics/prom"
	"github.com/shardflow/shardflow/metrics/redishook"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
	"github.com/shardflow/shardflow/sinks/deadletter"
	"github.com/shardflow/shardflow/sinks/encode"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// Options are the process-level settings of a run.
type Options struct {
	Logger   *slog.Logger
	WorkerID string
	// Allocator for Arrow buffers; default memory.DefaultAllocator.
	Allocator memory.Allocator
	// Hooks, if set, receives measurements besides the Prometheus adapter.
	Hooks metrics.Hooks
	// EMFOutput receives the CloudWatch EMF lines when ops.emf is set
	// (default os.Stdout).
	EMFOutput io.Writer
}

// Pipeline is one running pipeline: a consumer feeding decode and outputs.
type Pipeline struct {
	cfg      *Config
	log      *slog.Logger
	mem      memory.Allocator
	consumer *consumer.Consumer
	outputs  []flow.Output
	firehose []*fhout.Output
	s3outs   []*s3out.Output
	// firehoseNames[i] is the configured name of firehose[i].
	firehoseNames []string
	dead          flow.DeadLetterOutput
	redis         redis.UniversalClient // nil unless a Redis-backed part is configured

	transforms []transform.Transform
	windows    []windowRun
	statics    []*enrich.StaticTable
	stopSIGHUP func()

	decMu    sync.Mutex
	decoders map[string]*decode.Decoder // one per shard; each used by that shard's goroutine only

	recordsIn, rowsOut, deadLetters atomic.Int64

	hooks    metrics.Hooks
	prom     *prom.Metrics
	status   *statuspage.Collector
	emf      *emf.Writer
	ops      *opsserver.Server
	opsAddr  atomic.Pointer[string] // set once ops listens
	draining atomic.Bool
}

// Counters is a snapshot of a pipeline's totals.
type Counters struct {
	RecordsIn, RowsOut, DeadLetters int64
	Firehose                        []fhout.Stats
}

// LoadAWS loads the SDK config for cfg (region, default credential chain).
func LoadAWS(ctx context.Context, cfg *Config) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWS.Region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("pipeline %s: load AWS config: %w", cfg.Name, err)
	}
	return ac, nil
}

// New builds every part of the pipeline; Run starts it.
func New(ctx context.Context, cfg *Config, opts Options) (*Pipeline, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	log := opts.Logger.With("pipeline", cfg.Name)
	ac, err := LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, log: log, mem: opts.Allocator, decoders: map[string]*decode.Decoder{}}
	built := false
	defer func() {
		if !built {
			p.closeBuilt()
		}
	}()
	if p.prom, err = prom.New(prom.Options{Pipeline: cfg.Name}); err != nil {
		return nil, fmt.Errorf("pipeline %s: metrics: %w", cfg.Name, err)
	}
	p.status = statuspage.New(statuspage.Options{Pipeline: cfg.Name, Worker: opts.WorkerID})
	var emfHooks metrics.Hooks
	if e := cfg.Ops.EMF; e != nil {
		if p.emf, err = emf.New(emf.Options{Pipeline: cfg.Name, Namespace: e.Namespace, Interval: e.Interval.D(),
			Output: opts.EMFOutput, Logger: log}); err != nil {
			return nil, fmt.Errorf("pipeline %s: ops.emf: %w", cfg.Name, err)
		}
		emfHooks = p.emf
	}
	p.hooks = metrics.Join(p.prom, p.status, emfHooks, opts.Hooks)
	if cfg.Redis.URL != "" || len(cfg.Redis.ClusterAddrs) > 0 {
		if p.redis, err = redisClient(cfg.Redis); err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
		p.redis.AddHook(redishook.New(p.hooks))
	}
	// The schema is validated already; this decoder also gives the Arrow
	// schema the encoders need.
	proto, err := cfg.newDecoder(p.mem)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: schema: %w", cfg.Name, err)
	}
	schema := proto.Schema()
	proto.Release()
	if schema, err = p.buildTransforms(ctx, schema); err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	fh := firehose.NewFromConfig(ac, func(o *firehose.Options) {
		if cfg.AWS.Endpoints.Firehose != "" {
			o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.Firehose)
		}
		// The output's own loop retries failed records by index with
		// backoff; SDK-level retries of the whole call would resend
		// records that already succeeded inside it.
		o.RetryMaxAttempts = 1
		o.HTTPClient = fhout.HTTPClient()
	})
	switch dl := cfg.DeadLetter; {
	case dl.Firehose != nil:
		out, err := fhout.New(fhout.Options{
			Client: fh, DeliveryStream: dl.Firehose.DeliveryStream, Pipeline: cfg.Name,
			Linger: DefaultFirehoseLinger, MaxInFlight: 2, RetryTimeout: DefaultFirehoseRetryTimeout,
			Logger: log.With("output_name", "dead_letter"), Hooks: p.hooks,
		})
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: dead_letter: %w", cfg.Name, err)
		}
		p.dead = deadletter.NewFirehose(out, p.hooks)
	case dl.Stdout:
		p.dead = deadletter.NewStream(os.Stdout).WithHooks(p.hooks)
	default:
		w, err := deadletter.OpenFile(dl.File)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
		p.dead = w.WithHooks(p.hooks)
	}
	for _, oc := range cfg.Outputs {
		out, err := p.newOutput(ac, fh, oc, schema)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: output %s: %w", cfg.Name, oc.Name, err)
		}
		p.outputs = append(p.outputs, out)
	}
	holder := opts.WorkerID
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	for i, wc := range cfg.Windows {
		if err := p.newWindow(ac, fh, wc, schema, holder); err != nil {
			return nil, fmt.Errorf("pipeline %s: windows[%d] (%s): %w", cfg.Name, i, wc.Name, err)
		}
	}
	s := cfg.Source
	checkpointer, err := p.leaseStore(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	p.consumer, err = consumer.New(consumer.Config{
		Application: cfg.Name, Stream: s.Stream, WorkerID: opts.WorkerID, AWS: ac,
		KinesisEndpoint: cfg.AWS.Endpoints.Kinesis, LeaseTable: s.Checkpoints.Table,
		Checkpointer: checkpointer, InitialPosition: s.InitialPosition,
		LeaseDuration: s.LeaseDuration.D(), ShardSyncInterval: s.ShardSyncInterval.D(),
		MaxRecords: s.MaxRecords, IdleTimeBetweenReads: s.IdleTimeBetweenReads.D(),
		MaxInFlightBatches: s.MaxInFlightBatches, CheckpointInterval: s.CheckpointInterval.D(),
		MaxLeases: s.MaxLeases, LeaseStealing: *s.LeaseStealing, AtTimestamp: atTimestamp(s.AtTimestamp),
		Hooks:  p.hooks,
		Logger: log,
	}, p)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	built = true
	return p, nil
}

// closeBuilt stops and releases whatever New built before it failed, so
// that a failed New leaves no goroutine or connection behind.
func (p *Pipeline) closeBuilt() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, w := range p.windows {
		_ = w.op.Close(ctx)
		_ = w.out.Close(ctx)
	}
	for _, o := range p.outputs {
		_ = o.Close(ctx)
	}
	if p.dead != nil {
		_ = p.dead.Close(ctx)
	}
	for _, t := range p.transforms {
		_ = t.Close(ctx)
	}
	if p.stopSIGHUP != nil {
		p.stopSIGHUP()
	}
	if p.emf != nil {
		_ = p.emf.Close(ctx)
	}
	if p.redis != nil {
		_ = p.redis.Close()
	}
}

// buildTransforms builds the configured transforms in order, each on the
// previous one's output schema, and returns the final schema. Consecutive
// derives and filters share one expression stage.
func (p *Pipeline) buildTransforms(ctx context.Context, schema *arrow.Schema) (*arrow.Schema, error) {
	var steps []transform.Step
	flush := func() error {
		if len(steps) == 0 {
			return nil
		}
		ex, err := transform.NewExprs(p.mem, schema, steps...)
		if err != nil {
			return err
		}
		p.transforms = append(p.transforms, ex)
		schema, steps = ex.Schema(), nil
		return nil
	}
	for i, tc := range p.cfg.Transforms {
		path := fmt.Sprintf("transforms[%d]", i)
		switch {
		case tc.Derive != nil:
			steps = append(steps, *tc.Derive)
			continue
		case tc.Filter != nil:
			steps = append(steps, *tc.Filter)
			continue
		}
		if err := flush(); err != nil {
			return nil, fmt.Errorf("%s (derive/filter before it): %w", path, err)
		}
		switch {
		case tc.RedisLookup != nil:
			rl, err := enrich.NewRedisLookup(p.mem, schema, p.redis, *tc.RedisLookup)
			if err != nil {
				return nil, fmt.Errorf("%s.redis_lookup: %w", path, err)
			}
			p.transforms, schema = append(p.transforms, rl), rl.Schema()
		case tc.StaticTable != nil:
			st, err := enrich.NewStaticTable(p.mem, schema, *tc.StaticTable)
			if err != nil {
				return nil, fmt.Errorf("%s.static_table: %w", path, err)
			}
			p.transforms, schema = append(p.transforms, st), st.Schema()
			p.statics = append(p.statics, st)
		}
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("transforms (derive/filter): %w", err)
	}
	if len(p.statics) > 0 {
		p.stopSIGHUP = enrich.WatchSIGHUP(ctx, p.log, p.statics...)
	}
	return schema, nil
}

// newOutput builds one Firehose or S3 output for rows of schema.
func (p *Pipeline) newOutput(ac aws.Config, fh *firehose.Client, oc OutputConfig, schema *arrow.Schema) (flow.Output, error) {
	if oc.S3 != nil {
		out, err := p.newS3Output(ac, oc, schema)
		if err != nil {
			return nil, err
		}
		p.s3outs = append(p.s3outs, out)
		return out, nil
	}
	f := oc.Firehose
	var enc fhout.RowEncoder
	var err error
	switch f.Format {
	case "csv":
		enc, err = encode.NewCSV(schema, encode.CSVOptions{})
	default:
		enc, err = encode.NewNDJSON(schema)
	}
	if err != nil {
		return nil, err
	}
	out, err := fhout.New(fhout.Options{
		Client: fh, DeliveryStream: f.DeliveryStream, Encoder: enc, Pipeline: p.cfg.Name,
		DeadLetter: p.dead, Linger: f.Linger.D(), MaxInFlight: f.MaxInFlight,
		RetryTimeout: f.RetryTimeout.D(), Logger: p.log.With("output_name", oc.Name), Hooks: p.hooks,
	})
	if err != nil {
		return nil, err
	}
	p.firehose = append(p.firehose, out)
	p.firehoseNames = append(p.firehoseNames, oc.Name)
	return out, nil
}

// windowRun is one window operator with its emitter and result output.
type windowRun struct {
	name string
	op   *window.Operator
	emit *window.Emitter
	out  flow.Output
}

// newWindow builds a window operator on the transformed schema, its result
// output and its emitter (started by Run).
func (p *Pipeline) newWindow(ac aws.Config, fh *firehose.Client, wc WindowConfig, schema *arrow.Schema, holder string) error {
	o := wc.Options(p.cfg.Name)
	o.Schema, o.Redis, o.KeyPrefix, o.DeadLetter = schema, p.redis, p.cfg.Redis.KeyPrefix, p.dead
	o.Hooks, o.Logger, o.Allocator = p.hooks, p.log, p.mem
	// Flush before the shard runs out of batches in flight, so that it
	// never waits for the flush timer to read on.
	o.FlushBatches = max(1, p.cfg.Source.MaxInFlightBatches/2)
	op, err := window.New(o)
	if err != nil {
		return err
	}
	out, err := p.newOutput(ac, fh, wc.Output, op.ResultSchema())
	if err != nil {
		_ = op.Close(context.Background())
		return fmt.Errorf("output %s: %w", wc.Output.Name, err)
	}
	em, err := op.NewEmitter(window.EmitterOptions{
		Output: out, Holder: holder, Interval: wc.EmitInterval.D(),
		LockTTL: p.cfg.Source.LeaseDuration.D(), EmittedTTL: wc.EmittedRetention.D(),
		Shards: func(ctx context.Context) ([]window.ShardInfo, error) {
			shards, err := p.consumer.Shards(ctx)
			if err != nil {
				return nil, err
			}
			infos := make([]window.ShardInfo, len(shards))
			for i, s := range shards {
				infos[i] = window.ShardInfo{ID: s.ID, Closed: s.Closed}
			}
			return infos, nil
		},
	})
	if err != nil {
		_ = op.Close(context.Background())
		_ = out.Close(context.Background())
		return err
	}
	p.windows = append(p.windows, windowRun{name: wc.Name, op: op, emit: em, out: out})
	return nil
}

// ShardStarted, ShardFinished and ShardReleased pass the consumer's shard
// lifecycle to the window operators (consumer.ShardObserver).
func (p *Pipeline) ShardStarted(shard string) {
	for _, w := range p.windows {
		w.op.ShardStarted(shard)
	}
}

// ShardFinished marks the shard finished in every window operator.
func (p *Pipeline) ShardFinished(ctx context.Context, shard string) error {
	var errs []error
	for _, w := range p.windows {
		errs = append(errs, w.op.ShardFinished(ctx, shard))
	}
	return errors.Join(errs...)
}

// ShardReleased drops what window operators hold for the shard.
func (p *Pipeline) ShardReleased(shard string) {
	for _, w := range p.windows {
		w.op.ShardReleased(shard)
	}
}

// newS3Output builds a direct Parquet-to-S3 output.
func (p *Pipeline) newS3Output(ac aws.Config, oc OutputConfig, schema *arrow.Schema) (*s3out.Output, error) {
	c := oc.S3
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if p.cfg.AWS.Endpoints.S3 != "" {
			o.BaseEndpoint = aws.String(p.cfg.AWS.Endpoints.S3)
			o.UsePathStyle = true
		}
	})
	return s3out.New(s3out.Options{
		Client: client, Bucket: c.Bucket, Prefix: c.Prefix, Name: p.cfg.Name, Schema: schema,
		Compression: c.Compression, RollBytes: c.RollBytes, RollInterval: c.RollInterval.D(),
		PartitionBy: c.PartitionBy, RetryTimeout: c.RetryTimeout.D(), Allocator: p.mem,
		Logger: p.log.With("output_name", oc.Name),
	})
}

// leaseStore builds the configured lease and checkpoint store.
func (p *Pipeline) leaseStore(ctx context.Context, ac aws.Config) (consumer.StoreFactory, error) {
	cfg := p.cfg
	switch cfg.Source.Checkpoints.Type {
	case "redis":
		store := redisstore.New(p.redis, redisstore.Options{
			Prefix: cfg.Redis.KeyPrefix, Application: cfg.Name, LeaseDuration: cfg.Source.LeaseDuration.D(),
		})
		return store.Checkpointer, nil
	case "dynamodb":
		ddb := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
			if cfg.AWS.Endpoints.DynamoDB != "" {
				o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.DynamoDB)
			}
		})
		store, err := ddbstore.New(ctx, ddb, cfg.Source.Checkpoints.Table)
		if err != nil {
			return nil, err
		}
		return store.Checkpointer, nil
	}
	return nil, fmt.Errorf("unknown checkpoint store %q", cfg.Source.Checkpoints.Type)
}

// redisClient connects to one node (url) or a cluster (cluster_addrs).
// The URL's password never appears in an error.
func redisClient(c RedisConfig) (redis.UniversalClient, error) {
	if len(c.ClusterAddrs) > 0 {
		o := &redis.ClusterOptions{Addrs: c.ClusterAddrs, Password: c.Password}
		if c.TLS {
			o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		return redis.NewClusterClient(o), nil
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, errors.New("redis.url is not a valid redis:// or rediss:// URL")
	}
	if c.Password != "" {
		opts.Password = c.Password
	}
	return redis.NewClient(opts), nil
}

// Run starts consuming and blocks until ctx is cancelled, then drains within
// the configured shutdown timeout: stop reading, wait for acks, checkpoint,
// release leases, close outputs.
func (p *Pipeline) Run(ctx context.Context) error {
	if err := p.startOps(); err != nil {
		return err
	}
	if err := p.consumer.Start(); err != nil {
		p.stopOps()
		return err
	}
	for _, w := range p.windows {
		w.emit.Start()
	}
	tick := time.NewTicker(p.cfg.ProgressLogInterval.D())
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			p.logProgress("progress")
		}
	}
	p.draining.Store(true) // /readyz turns 503 at once
	p.log.Info("draining", "budget", p.cfg.ShutdownTimeout.D())
	drainCtx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout.D())
	defer cancel()
	var errs []error
	if err := p.consumer.Stop(drainCtx); err != nil {
		errs = append(errs, err)
	}
	// Window state first (its acks were the consumer's to wait for), then
	// the emitters (a cut-off emission is redone by the next holder with
	// the same row ids), then their outputs.
	for _, w := range p.windows {
		if err := w.op.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
		if err := w.emit.Stop(drainCtx); err != nil {
			errs = append(errs, err)
		}
		if err := w.out.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range p.outputs {
		if err := o.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.dead.Close(drainCtx); err != nil {
		errs = append(errs, err)
	}
	if p.redis != nil {
		if err := p.redis.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis: %w", err))
		}
	}
	for _, t := range p.transforms {
		if err := t.Close(drainCtx); err != nil {
			errs = append(errs, err)
		}
	}
	if p.stopSIGHUP != nil {
		p.stopSIGHUP()
	}
	p.decMu.Lock()
	for _, d := range p.decoders {
		d.Release()
	}
	p.decoders = nil
	p.decMu.Unlock()
	p.logProgress("stopped")
	if p.emf != nil {
		if err := p.emf.Close(drainCtx); err != nil {
			errs = append(errs, fmt.Errorf("emf: %w", err))
		}
	}
	p.stopOps()
	return errors.Join(errs...)
}

// startOps serves /metrics, /healthz, /readyz and the status page (/). Ready
// means: not draining, no output gave up, Redis answers (when a Redis-backed
// part is used) and an overridden Firehose endpoint accepts connections.
func (p *Pipeline) startOps() error {
	if p.cfg.Ops.Listen == "off" {
		return nil
	}
	p.ops = opsserver.New(opsserver.Options{Metrics: p.prom.Handler(), Logger: p.log})
	p.ops.AddCheck(opsserver.FuncCheck("draining", func() error {
		if p.draining.Load() {
			return errors.New("draining after SIGTERM")
		}
		return nil
	}))
	p.ops.AddCheck(opsserver.FuncCheck("outputs", p.Healthy))
	// An output that gave up freezes its shards' checkpoints until the
	// process restarts (the records are then replayed from them): /healthz
	// fails too, so that ECS's container health check replaces the task
	// instead of leaving it stuck.
	p.ops.AddLiveness(opsserver.FuncCheck("outputs", p.Healthy))
	if p.redis != nil {
		p.ops.AddCheck(opsserver.RedisCheck(p.redis))
	}
	if ep := p.cfg.AWS.Endpoints.Firehose; ep != "" && (len(p.firehose) > 0 || p.cfg.DeadLetter.Firehose != nil) {
		// Only an override (a local or private stand-in) can be down while
		// this process runs; AWS's public endpoint is checked by the calls.
		c, err := opsserver.EndpointCheck("firehose_endpoint", ep)
		if err != nil {
			return fmt.Errorf("pipeline %s: aws.endpoints.firehose: %w", p.cfg.Name, err)
		}
		p.ops.AddCheck(c)
	}
	p.ops.Handle("/", statuspage.Handler(p.status, p.ops.Readiness))
	if err := p.ops.Start(p.cfg.Ops.Listen); err != nil {
		return fmt.Errorf("pipeline %s: ops endpoint: %w", p.cfg.Name, err)
	}
	addr := p.ops.Addr()
	p.opsAddr.Store(&addr)
	p.log.Info("ops endpoint", "addr", addr)
	return nil
}

func (p *Pipeline) stopOps() {
	if p.ops == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.ops.Shutdown(ctx); err != nil {
		p.log.Warn("ops endpoint shutdown", "err", err)
	}
}

// OpsAddr is the address the ops endpoint listens on ("" when off or not
// started yet). Safe to call while Run starts it.
func (p *Pipeline) OpsAddr() string {
	if a := p.opsAddr.Load(); a != nil {
		return *a
	}
	return ""
}

// logProgress logs the running totals under msg.
func (p *Pipeline) logProgress(msg string) {
	c := p.Counters()
	args := []any{"records_in", c.RecordsIn, "rows_out", c.RowsOut, "dead_letters", c.DeadLetters,
		"shards", len(p.consumer.OwnedShards())}
	for i, f := range c.Firehose {
		args = append(args, slog.Group(p.firehoseNames[i], "rows", f.Rows, "records", f.Records,
			"billed_bytes", f.BilledBytes, "retries", f.Retries, "failed_records", f.FailedRecords))
	}
	for _, w := range p.windows {
		st := w.emit.Stats()
		g := []any{"emitter", st.Holding, "rows", st.Rows, "updates", st.Updates}
		if !st.Watermark.IsZero() {
			g = append(g, "watermark", st.Watermark.Format(time.RFC3339))
		}
		if !st.Emitted.IsZero() {
			g = append(g, "emitted_through", st.Emitted.Format(time.RFC3339))
		}
		args = append(args, slog.Group("window_"+w.name, g...))
	}
	if err := p.Healthy(); err != nil {
		args = append(args, "unhealthy", err.Error())
	}
	p.log.Info(msg, args...)
}

// HandleBatch decodes one shard batch and hands it to every output; the
// consumer's ack fires when all outputs (and the dead-letter output, if any
// record was rejected) have acked.
func (p *Pipeline) HandleBatch(ctx context.Context, shard string, recs []flow.SourceRecord, ack flow.Ack) error {
	dec, err := p.decoder(shard)
	if err != nil {
		return err
	}
	b, dead := dec.Decode(shard, recs)
	for why, n := range dec.Skipped() {
		p.hooks.InputSkipped(why, n)
	}
	for _, t := range p.transforms {
		// A transform error (Redis down, say) is retried with backoff:
		// the batch waits (back-pressure), nothing goes out half-done.
		out, d, err := transform.Retry(ctx, t, b, transform.Backoff{}, func(attempt int, err error) {
			if attempt == 1 || attempt%20 == 0 {
				p.log.Warn("transform failed; retrying", "shard", shard, "attempt", attempt, "err", err)
			}
		})
		b.Record.Release()
		if err != nil {
			return fmt.Errorf("pipeline %s: shard %s: transform: %w", p.cfg.Name, shard, err)
		}
		dead = append(dead, d...)
		b = out
	}
	defer b.Record.Release()
	p.recordsIn.Add(int64(len(recs)))
	p.rowsOut.Add(int64(b.Rows()))
	parts := len(p.outputs) + len(p.windows)
	if len(dead) > 0 {
		parts++
	}
	join := flow.JoinAcks(parts, ack)
	if len(dead) > 0 {
		for i := range dead {
			dead[i].Pipeline = p.cfg.Name
		}
		p.deadLetters.Add(int64(len(dead)))
		if err := p.dead.WriteDeadLetters(ctx, dead, join); err != nil {
			return fmt.Errorf("pipeline %s: shard %s: dead-letter: %w", p.cfg.Name, shard, err)
		}
	}
	for i, o := range p.outputs {
		if err := o.Write(ctx, b, join); err == nil {
			p.hooks.RowsOut(p.cfg.Outputs[i].Name, b.Rows())
		} else {
			// This and every later output will never ack: fail their parts.
			err = fmt.Errorf("pipeline %s: shard %s: output %s: %w", p.cfg.Name, shard, p.cfg.Outputs[i].Name, err)
			for range len(p.outputs) - i + len(p.windows) {
				join(err)
			}
			return nil
		}
	}
	for i, w := range p.windows {
		if err := w.op.Write(ctx, b, join); err != nil {
			err = fmt.Errorf("pipeline %s: shard %s: window %s: %w", p.cfg.Name, shard, w.name, err)
			for range len(p.windows) - i {
				join(err)
			}
			return nil
		}
	}
	return nil
}

func (p *Pipeline) decoder(shard string) (*decode.Decoder, error) {
	p.decMu.Lock()
	defer p.decMu.Unlock()
	if p.decoders == nil {
		return nil, fmt.Errorf("pipeline %s: shard %s: batch after shutdown", p.cfg.Name, shard)
	}
	if d, ok := p.decoders[shard]; ok {
		return d, nil
	}
	d, err := p.cfg.newDecoder(p.mem)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: shard %s: %w", p.cfg.Name, shard, err)
	}
	p.decoders[shard] = d
	return d, nil
}

// Counters returns the pipeline's totals so far.
func (p *Pipeline) Counters() Counters {
	c := Counters{RecordsIn: p.recordsIn.Load(), RowsOut: p.rowsOut.Load(), DeadLetters: p.deadLetters.Load()}
	for _, f := range p.firehose {
		c.Firehose = append(c.Firehose, f.Stats())
	}
	return c
}

// OwnedShards lists the shards this pipeline's worker holds leases on.
func (p *Pipeline) OwnedShards() []string { return p.consumer.OwnedShards() }

// Healthy reports an output that gave up, if any.
func (p *Pipeline) Healthy() error {
	for _, f := range p.firehose {
		if err := f.Healthy(); err != nil {
			return err
		}
	}
	for _, o := range p.s3outs {
		if err := o.Healthy(); err != nil {
			return err
		}
	}
	return p.consumer.Healthy()
}

func atTimestamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s) // validated
	return t
}

// ShardRead passes each GetRecords result's size and MillisBehindLatest to
// the window operators (consumer.ReadObserver). Nothing uses it yet: window
// idleness will be decided from it (issue 16).
func (p *Pipeline) ShardRead(shard string, records int, millisBehindLatest int64) {}

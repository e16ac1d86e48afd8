package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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

	"github.com/shardflow/shardflow/checkpoints"
	ddbstore "github.com/shardflow/shardflow/checkpoints/dynamodb"
	redisstore "github.com/shardflow/shardflow/checkpoints/redis"
	"github.com/shardflow/shardflow/consumer"
	"github.com/shardflow/shardflow/consumer/assign"
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

// Options are the process-level dependencies of a run: what New attaches
// to a plan besides the services the config names.
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

// Pipeline is one running pipeline: a consumer feeding decode, transforms,
// outputs and windows.
type Pipeline struct {
	cfg      *Config
	plan     *Resolved
	log      *slog.Logger
	mem      memory.Allocator
	consumer *consumer.Consumer
	// outputs are the direct outputs, in config order.
	outputs []namedOutput
	dead    flow.DeadLetterOutput
	redis   redis.UniversalClient // nil unless a Redis-backed part is configured

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

// namedOutput is an output with its configured name. Health and stats are
// optional interfaces of the output (healthReporter, firehoseStats).
type namedOutput struct {
	name string
	kind string
	out  flow.Output
}

// healthReporter is an output that can give up (retry_timeout passed).
type healthReporter interface{ Healthy() error }

// firehoseStats is an output that counts Firehose records and calls.
type firehoseStats interface{ Stats() fhout.Stats }

// windowRun is one window operator with its emitter and result output.
type windowRun struct {
	name string
	op   *window.Operator
	emit *window.Emitter
	out  namedOutput
}

// LoadAWS loads the SDK config for cfg (region, default credential chain).
func LoadAWS(ctx context.Context, cfg *Config) (aws.Config, error) {
	ac, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWS.Region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("pipeline %s: load AWS config: %w", cfg.Name, err)
	}
	return ac, nil
}

// New attaches I/O to a plan — clients, the dead-letter file, outputs,
// window state, the consumer — and returns the pipeline; Run starts it.
// Every option was checked by Plan: New fails only when a service or file
// cannot be reached or opened, and then stops whatever it had started.
func New(ctx context.Context, plan *Resolved, opts Options) (*Pipeline, error) {
	if plan == nil || plan.Config == nil {
		return nil, errors.New("pipeline: New needs a plan (pipeline.Plan)")
	}
	cfg := plan.Config
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
	p := &Pipeline{cfg: cfg, plan: plan, log: log, mem: opts.Allocator, decoders: map[string]*decode.Decoder{}}
	built := false
	defer func() {
		if !built {
			p.closeBuilt()
		}
	}()
	if p.prom, err = prom.New(prom.Options{Pipeline: cfg.Name}); err != nil {
		return nil, fmt.Errorf("pipeline %s: metrics: %w", cfg.Name, err)
	}
	// One worker id for leases, the emitter lock and the status page.
	workerID := opts.WorkerID
	if workerID == "" {
		host, _ := os.Hostname()
		workerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	p.status = statuspage.New(statuspage.Options{Pipeline: cfg.Name, Worker: workerID})
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
		if err = checkRedisAccess(ctx, p.redis, cfg.Redis, log); err != nil {
			_ = p.redis.Close()
			return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
		p.redis.AddHook(redishook.New(p.hooks))
	}
	if err = p.buildTransforms(ctx); err != nil {
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
			return nil, fmt.Errorf("pipeline %s: dead_letter.file: %w", cfg.Name, err)
		}
		p.dead = w.WithHooks(p.hooks)
	}
	for _, op := range plan.Outputs {
		out, err := p.newOutput(ac, fh, op)
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %s (%s): %w", cfg.Name, op.Path, op.Name, err)
		}
		p.outputs = append(p.outputs, out)
	}
	for _, wp := range plan.Windows {
		if err := p.newWindow(ac, fh, wp, workerID); err != nil {
			return nil, fmt.Errorf("pipeline %s: %s (%s): %w", cfg.Name, wp.Path, wp.Config.Name, err)
		}
	}
	s := cfg.Source
	store, err := p.leaseStore(ctx, ac)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	if s.LeaseStealing != nil {
		log.Warn("source.lease_stealing has no effect any more: shardflow always balances leases (see source.balance)")
	}
	p.consumer, err = consumer.New(consumer.Config{
		Application: cfg.Name, Stream: s.Stream, WorkerID: workerID, AWS: ac,
		KinesisEndpoint: cfg.AWS.Endpoints.Kinesis, Store: store, InitialPosition: s.InitialPosition,
		LeaseDuration: s.LeaseDuration.D(), ShardSyncInterval: s.ShardSyncInterval.D(),
		MaxRecords: s.MaxRecords, IdleTimeBetweenReads: s.IdleTimeBetweenReads.D(),
		MaxInFlightBatches: s.MaxInFlightBatches, CheckpointInterval: s.CheckpointInterval.D(),
		MaxLeases: s.MaxLeases, Balance: assign.Mode(s.Balance), AtTimestamp: atTimestamp(s.AtTimestamp),
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
		_ = w.out.out.Close(ctx)
	}
	for _, o := range p.outputs {
		_ = o.out.Close(ctx)
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

// buildTransforms builds the planned transforms in order. Consecutive
// derives and filters share one expression stage.
func (p *Pipeline) buildTransforms(ctx context.Context) error {
	var steps []transform.Step
	var stepsIn *arrow.Schema
	first := ""
	flush := func() error {
		if len(steps) == 0 {
			return nil
		}
		ex, err := transform.NewExprs(p.mem, stepsIn, steps...)
		if err != nil {
			return fmt.Errorf("%s and the derive/filter steps after it: %w", first, err)
		}
		p.transforms = append(p.transforms, ex)
		steps = nil
		return nil
	}
	for _, tp := range p.plan.Transforms {
		if tp.Step != nil {
			if len(steps) == 0 {
				stepsIn, first = tp.In, tp.Path
			}
			steps = append(steps, tp.Step)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		switch {
		case tp.RedisLookup != nil:
			ro := *tp.RedisLookup
			name := ro.KeyPrefix + ro.Key // the lookup's label in metrics
			ro.OnCache = func(lookups, hits int) { p.hooks.LookupCache(name, lookups, hits) }
			rl, err := enrich.NewRedisLookup(p.mem, tp.In, p.redis, ro)
			if err != nil {
				return fmt.Errorf("%s.redis_lookup: %w", tp.Path, err)
			}
			p.transforms = append(p.transforms, rl)
		case tp.StaticTable != nil:
			st, err := enrich.NewStaticTable(p.mem, tp.In, *tp.StaticTable)
			if err != nil {
				return fmt.Errorf("%s.static_table: %w", tp.Path, err)
			}
			p.transforms = append(p.transforms, st)
			p.statics = append(p.statics, st)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if len(p.statics) > 0 {
		p.stopSIGHUP = enrich.WatchSIGHUP(ctx, p.log, p.statics...)
	}
	return nil
}

// newOutput builds one planned Firehose or S3 output.
func (p *Pipeline) newOutput(ac aws.Config, fh *firehose.Client, op OutputPlan) (namedOutput, error) {
	no := namedOutput{name: op.Name, kind: op.Kind}
	if op.S3 != nil {
		out, err := p.newS3Output(ac, op)
		if err != nil {
			return no, err
		}
		no.out = out
		return no, nil
	}
	f := op.Firehose
	var enc fhout.RowEncoder
	var err error
	switch f.Format {
	case "csv":
		enc, err = encode.NewCSV(op.Schema, encode.CSVOptions{})
	default:
		enc, err = encode.NewNDJSON(op.Schema)
	}
	if err != nil {
		return no, err
	}
	out, err := fhout.New(fhout.Options{
		Client: fh, DeliveryStream: f.DeliveryStream, Encoder: enc, Pipeline: p.cfg.Name,
		DeadLetter: p.dead, Linger: f.Linger.D(), MaxInFlight: f.MaxInFlight, MaxRowsPerRecord: f.MaxRowsPerRecord,
		RetryTimeout: f.RetryTimeout.D(), Logger: p.log.With("output_name", op.Name), Hooks: p.hooks,
	})
	if err != nil {
		return no, err
	}
	no.out = out
	return no, nil
}

// newWindow builds a planned window operator, its result output and its
// emitter (started by Run).
func (p *Pipeline) newWindow(ac aws.Config, fh *firehose.Client, wp WindowPlan, holder string) error {
	o := wp.Options
	o.Redis, o.KeyPrefix, o.DeadLetter = p.redis, p.cfg.Redis.KeyPrefix, p.dead
	o.Hooks, o.Logger, o.Allocator = p.hooks, p.log, p.mem
	// Flush before the shard runs out of batches in flight, so that it
	// never waits for the flush timer to read on.
	o.FlushBatches = max(1, p.cfg.Source.MaxInFlightBatches/2)
	op, err := window.New(o)
	if err != nil {
		return err
	}
	out, err := p.newOutput(ac, fh, wp.Output)
	if err != nil {
		_ = op.Close(context.Background())
		return fmt.Errorf("output %s: %w", wp.Output.Name, err)
	}
	em, err := op.NewEmitter(window.EmitterOptions{
		Output: out.out, Holder: holder, Interval: wp.Config.EmitInterval.D(),
		LockTTL: p.cfg.Source.LeaseDuration.D(), EmittedTTL: wp.Config.EmittedRetention.D(),
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
		_ = out.out.Close(context.Background())
		return err
	}
	p.windows = append(p.windows, windowRun{name: wp.Config.Name, op: op, emit: em, out: out})
	return nil
}

// newS3Output builds a Parquet-to-S3 output: exactly-once (per shard and
// sequence range) for shard batches, at-least-once for window results.
func (p *Pipeline) newS3Output(ac aws.Config, op OutputPlan) (*s3out.Output, error) {
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if p.cfg.AWS.Endpoints.S3 != "" {
			o.BaseEndpoint = aws.String(p.cfg.AWS.Endpoints.S3)
			o.UsePathStyle = true
		}
	})
	o := s3Options(p.cfg, op.S3, op.Schema)
	o.Client, o.Allocator, o.Logger = client, p.mem, p.log.With("output_name", op.Name)
	// A direct output gets shard batches: exactly-once by shard and
	// sequence range. A window's gets emitted rows: at-least-once.
	o.ExactlyOnce = strings.HasPrefix(op.Path, "outputs[")
	name := op.Name
	o.OnUpload = func(r s3out.UploadResult) {
		p.hooks.S3Upload(name, metrics.S3Upload{Rows: int(r.Rows), Bytes: r.Bytes, Parts: r.Parts, Err: r.Err})
	}
	o.OnRetry = func(string, int, error) { p.hooks.S3Retry(name) }
	return s3out.New(o)
}

// leaseStore builds the configured lease and checkpoint store.
func (p *Pipeline) leaseStore(ctx context.Context, ac aws.Config) (checkpoints.Store, error) {
	cfg := p.cfg
	switch cfg.Source.Checkpoints.Type {
	case "redis":
		return redisstore.New(p.redis, redisstore.Options{Prefix: cfg.Redis.KeyPrefix, Application: cfg.Name})
	case "dynamodb":
		ddb := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
			if cfg.AWS.Endpoints.DynamoDB != "" {
				o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.DynamoDB)
			}
		})
		return ddbstore.New(ctx, ddb, cfg.Source.Checkpoints.Table)
	}
	return nil, fmt.Errorf("unknown checkpoint store %q", cfg.Source.Checkpoints.Type)
}

// OpenLeaseStore opens the lease and checkpoint store cfg names, for tools
// (`shardflow leases`, `shardflow checkpoints`); close releases it.
func OpenLeaseStore(ctx context.Context, cfg *Config) (store checkpoints.Store, close func(), err error) {
	ac, err := LoadAWS(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	p := &Pipeline{cfg: cfg}
	if cfg.Source.Checkpoints.Type == "redis" {
		if p.redis, err = redisClient(cfg.Redis); err != nil {
			return nil, nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
		if err = checkRedisAccess(ctx, p.redis, cfg.Redis, nil); err != nil {
			_ = p.redis.Close()
			return nil, nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
		}
	}
	closeRedis := func() {
		if p.redis != nil {
			_ = p.redis.Close()
		}
	}
	store, err = p.leaseStore(ctx, ac)
	if err != nil {
		closeRedis()
		return nil, nil, fmt.Errorf("pipeline %s: %w", cfg.Name, err)
	}
	return store, closeRedis, nil
}

// RouteRedisLogs sends go-redis's own log lines (reconnects, pool
// warnings; printf text on stderr by default) to l at Warn, so that a JSON
// log stays JSON. It changes process-wide state: main calls it once.
func RouteRedisLogs(l *slog.Logger) { redis.SetLogger(redisLogger{l.With("src", "go-redis")}) }

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func atTimestamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s) // checked by Plan
	return t
}

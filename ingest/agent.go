package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/put"
	"github.com/shardflow/shardflow/ingest/s3feed"
	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/ingest/tail"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

// Options configure New.
type Options struct {
	// Once reads every file (and S3 object) found at start to its end,
	// waits for its records to be acknowledged, and makes Run return.
	Once bool
	// Hostname is the host metadata value (default os.Hostname).
	Hostname string
	Logger   *slog.Logger
	// AWS, when set, is used instead of the default credential chain.
	AWS *aws.Config
}

// Agent runs the flows of one agent file. See the package documentation.
type Agent struct {
	cfg     *Config
	o       Options
	log     *slog.Logger
	store   *state.Store
	dead    *deadLetters
	flows   []*flow
	started time.Time
}

// New opens the checkpoint and dead-letter files, checks that every
// destination exists, and builds the flows; Run starts them.
func New(ctx context.Context, cfg *Config, o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	a := &Agent{cfg: cfg, o: o, log: o.Logger, started: time.Now()}
	ok := false
	defer func() {
		if !ok {
			a.closeAll()
		}
	}()
	var err error
	if a.store, err = state.Open(cfg.StateFile); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.dead, err = openDeadLetters(cfg.DeadLetterFile); err != nil {
		return nil, err
	}
	a.store.BeforeWrite = a.dead.Sync
	var ac aws.Config
	if o.AWS != nil {
		ac = *o.AWS
	} else if ac, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(cfg.AWS.Region)); err != nil {
		return nil, fmt.Errorf("agent: load AWS config: %w", err)
	}
	// One attempt per SDK call: the sender resends by record, and an SDK
	// retry of a whole call would resend records it accepted.
	kc := kinesis.NewFromConfig(ac, func(k *kinesis.Options) {
		if e := cfg.AWS.Endpoints.Kinesis; e != "" {
			k.BaseEndpoint = aws.String(e)
		}
		k.RetryMaxAttempts = 1
		k.HTTPClient = fhout.HTTPClient()
	})
	fh := firehose.NewFromConfig(ac, func(f *firehose.Options) {
		if e := cfg.AWS.Endpoints.Firehose; e != "" {
			f.BaseEndpoint = aws.String(e)
		}
		f.RetryMaxAttempts = 1
		f.HTTPClient = fhout.HTTPClient()
	})
	s3c := s3.NewFromConfig(ac, func(s *s3.Options) {
		if e := cfg.AWS.Endpoints.S3; e != "" {
			s.BaseEndpoint = aws.String(e)
			s.UsePathStyle = true
		}
		s.DisableLogOutputChecksumValidationSkipped = true
	})
	for i := range cfg.Flows {
		f, err := a.newFlow(ctx, cfg.Flows[i], kc, fh, s3c)
		if err != nil {
			return nil, fmt.Errorf("agent: flows[%d] (%s): %w", i, cfg.Flows[i].Name, err)
		}
		a.flows = append(a.flows, f)
	}
	ok = true
	return a, nil
}

func (a *Agent) newFlow(ctx context.Context, fc FlowConfig, kc *kinesis.Client, fh *firehose.Client, s3c *s3.Client) (*flow, error) {
	f := &flow{name: fc.Name, cfg: fc, log: a.log.With("flow", fc.Name), dead: a.dead, store: a.store, once: a.o.Once}
	po := put.Options{Aggregate: fc.Aggregate, AggregateMaxBytes: fc.AggregateMaxBytes, Pack: *fc.Pack,
		MaxRecords: fc.Batch.MaxRecords, MaxBytes: fc.Batch.MaxBytes, Linger: fc.Batch.Linger.D(),
		MaxInFlight: fc.MaxInFlight, MaxBufferedBytes: fc.MaxBufferBytes, Logger: f.log,
		AfterCall: a.waitCheckpointed(fc.Batch.Linger.D())}
	mode, field := partitionKey(fc.PartitionKey)
	if fc.KinesisStream != "" {
		if _, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(fc.KinesisStream)}); err != nil {
			return nil, fmt.Errorf("kinesis stream %s: %w", fc.KinesisStream, err)
		}
		po.Kinesis, po.Stream = kc, fc.KinesisStream
		po.KeyedAggregation = mode != lines.KeyRandom
	} else {
		if _, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(fc.FirehoseDeliveryStream)}); err != nil {
			return nil, fmt.Errorf("firehose delivery stream %s: %w", fc.FirehoseDeliveryStream, err)
		}
		po.Firehose, po.DeliveryStream = fh, fc.FirehoseDeliveryStream
	}
	var err error
	if f.sender, err = put.New(ctx, po); err != nil {
		return nil, err
	}
	lo := lines.Options{SkipHeaderLines: fc.SkipHeaderLines, SingleLine: fc.SingleLine, Hostname: a.o.Hostname,
		KeyMode: mode, KeyField: field, MaxRecordBytes: f.sender.MaxRecordBytes()}
	if m := fc.Multiline; m != nil {
		lo.Multiline = &lines.Multiline{StartPattern: m.StartPattern, MaxLines: m.MaxLines, Timeout: m.Timeout.D()}
	}
	if fc.Convert != nil {
		if lo.Convert, err = convertOptions(fc.Convert); err != nil {
			f.sender.Close(ctx)
			return nil, err
		}
	}
	if m := fc.AddMetadata; m != nil {
		lo.Metadata = lines.Metadata{Host: m.Host, File: m.File, Offset: m.Offset}
	}
	if f.proc, err = lines.New(lo); err != nil {
		f.sender.Close(ctx)
		return nil, err
	}
	if len(fc.Files) > 0 {
		f.tail, err = tail.New(tail.Options{Flow: fc.Name, Globs: fc.Files, StartAtEnd: fc.InitialPosition == "end_of_file",
			FingerprintBytes: fc.FingerprintBytes, MaxLineBytes: fc.MaxLineBytes, DiscoverInterval: fc.DiscoverInterval.D(),
			CloseInactive: fc.CloseInactive.D(), Once: a.o.Once, Logger: a.log}, a.store) // it adds the flow
	} else {
		f.bucket = fc.S3.Bucket
		f.feed, err = s3feed.New(s3feed.Options{Flow: fc.Name, Client: s3c, Bucket: fc.S3.Bucket, Prefix: fc.S3.Prefix,
			Compression: fc.S3.Compression, PollInterval: fc.S3.PollInterval.D(), MaxLineBytes: fc.MaxLineBytes,
			Once: a.o.Once, Logger: a.log}, a.store)
	}
	if err != nil {
		f.sender.Close(ctx)
		return nil, err
	}
	return f, nil
}

// waitCheckpointed makes a worker wait, after its call was acknowledged,
// until the checkpoint covers the call's records: then at most one call
// per worker is sent and not yet checkpointed — what a kill -9 makes the
// agent send again. The wait is bounded: records of one file can sit in a
// later call than records after them (KPL aggregates grouped by shard go
// out when full or lingered), and a worker waiting for a call it would
// itself have to send must not wait forever; past the bound the worker
// goes on (more may then be sent twice after a crash, never less).
func (a *Agent) waitCheckpointed(linger time.Duration) func(context.Context, []state.Ticket) error {
	bound := max(2*linger, time.Second)
	return func(ctx context.Context, tickets []state.Ticket) error {
		ctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		if err := a.store.WaitCovered(ctx, tickets); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	}
}

// Run runs every flow until ctx ends or, with Once, until every flow read
// everything; then it waits (up to shutdown_timeout) for the records in
// flight to be acknowledged, writes the checkpoint a last time and closes
// the files. A flow's fatal error stops the whole agent.
func (a *Agent) Run(ctx context.Context) error {
	storeCtx, stopStore := context.WithCancel(context.Background())
	storeDone := make(chan struct{})
	go func() { a.store.Run(storeCtx); close(storeDone) }()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(a.flows))
	var wg sync.WaitGroup
	for i, f := range a.flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = f.run(runCtx); errs[i] != nil {
				a.log.Error("flow failed; stopping the agent", "flow", f.name, "err", errs[i])
				cancel()
			}
		}()
	}
	wg.Wait()

	drain, stop := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout.D())
	defer stop()
	for _, f := range a.flows {
		if err := f.sender.Close(drain); err != nil {
			errs = append(errs, fmt.Errorf("agent: flow %s: %w", f.name, err))
		}
		f.closeReader()
	}
	stopStore()
	<-storeDone
	if err := a.store.Err(); err != nil {
		errs = append(errs, fmt.Errorf("agent: last checkpoint: %w", err))
	}
	if err := a.dead.Close(); err != nil {
		errs = append(errs, err)
	}
	a.dead = nil
	return errors.Join(errs...)
}

func (a *Agent) closeAll() {
	for _, f := range a.flows {
		f.sender.Close(context.Background())
		f.closeReader()
	}
	if a.dead != nil {
		a.dead.Close()
	}
}

// Snapshot is the agent's totals, for progress lines and metrics.
type Snapshot struct {
	Flows            []FlowSnapshot
	CheckpointWrites int64
	CheckpointError  string
}

// Snapshot returns the agent's current totals.
func (a *Agent) Snapshot() Snapshot {
	s := Snapshot{CheckpointWrites: a.store.Writes()}
	if err := a.store.Err(); err != nil {
		s.CheckpointError = err.Error()
	}
	for _, f := range a.flows {
		s.Flows = append(s.Flows, f.snapshot())
	}
	return s
}

// Healthy reports a problem an operator must look at: a checkpoint that
// cannot be written, or a destination that failed every call for two
// minutes.
func (a *Agent) Healthy() error {
	if err := a.store.Err(); err != nil {
		return err
	}
	for _, f := range a.flows {
		st := f.sender.Stats()
		if msg := st.LastError(); msg != "" {
			last := a.started
			if ns := st.LastSuccess.Load(); ns > 0 {
				last = time.Unix(0, ns)
			}
			if time.Since(last) > 2*time.Minute {
				return fmt.Errorf("flow %s: no successful put for 2 minutes: %s", f.name, msg)
			}
		}
	}
	return nil
}

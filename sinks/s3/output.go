package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/sinks/encode"
)

// Defaults and limits.
const (
	DefaultRollBytes          = 128 << 20
	DefaultRollInterval       = 5 * time.Minute
	DefaultPartSize           = 8 << 20
	MinPartSize               = 5 << 20 // S3's minimum for every part but the last
	DefaultMaxInFlightUploads = 4
	DefaultMaxOpenFiles       = 16
	DefaultRowGroupBytes      = 32 << 20
	DefaultRetryTimeout       = 5 * time.Minute
	DefaultRollRecords        = 1_000_000
	DefaultIdleGrace          = 2 * time.Second
	defaultRetryBase          = 100 * time.Millisecond
	defaultRetryMaxDelay      = 10 * time.Second
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("s3: output closed")

// Options configures an Output.
type Options struct {
	Client *s3.Client
	Bucket string
	// Prefix is prepended to every key; a '/' is added when it lacks one,
	// so that dt= starts a path segment (Hive partition discovery needs it).
	Prefix string
	// Name starts every file name (default: the last segment of Prefix, or
	// "shardflow"). It must not contain '/'.
	Name   string
	Schema *arrow.Schema
	// Compression is "snappy" (default), "zstd" or "none".
	Compression string
	// RowGroupRows and RowGroupBytes bound a Parquet row group (defaults
	// 131,072 rows, 32 MiB). An open file buffers its current row group in
	// memory.
	RowGroupRows  int
	RowGroupBytes int64
	// RollBytes closes a file (exactly-once: a segment) once it is about
	// this large (default 128 MiB).
	RollBytes int64
	// RollInterval closes a file this long after it was opened (default
	// 5m). Exactly-once: a segment spans at most this much of its rows'
	// arrival times. Acks wait for the upload, so this bounds how far
	// checkpoints lag.
	RollInterval time.Duration
	// PartitionBy is "arrival" (default: the arrival time of each batch's
	// first row; exactly-once: of each row) or "event:<column>" (a
	// timestamp column of Schema; a row whose value is null falls back to
	// its arrival time).
	PartitionBy string
	// PartSize is the size of multipart upload parts (default 8 MiB, at
	// least 5 MiB). A file no larger than one part is sent with PutObject.
	PartSize int
	// MaxInFlightUploads bounds concurrent S3 calls (default 4).
	MaxInFlightUploads int
	// MaxOpenFiles bounds the partitions open at once (default 16); opening
	// one more rolls the oldest. Exactly-once: the partitions of one
	// segment; a row of one more ends the segment.
	MaxOpenFiles int
	// RetryTimeout bounds how long one S3 call is retried (default 5m);
	// past it the file is given up on and its writes ack with the error.
	RetryTimeout time.Duration
	// RetryBase and RetryMaxDelay shape the backoff (defaults 100ms, 10s).
	RetryBase, RetryMaxDelay time.Duration
	// Now is the clock (default time.Now): file names, the arrival-time
	// fallback and the age of open files.
	Now       func() time.Time
	Logger    *slog.Logger
	Allocator memory.Allocator
	// OnUpload, when set, is called once per file after its upload
	// succeeded or was given up on, before the acks of its writes.
	OnUpload func(UploadResult)
	// OnRetry, when set, is called for each S3 call that failed and is
	// about to be retried (call names the operation and key). It must not
	// block: it runs on the upload goroutine.
	OnRetry func(call string, attempt int, err error)

	// ExactlyOnce writes each shard's rows as a chain of segments whose
	// objects are named by shard and sequence range and cut at points of
	// the input, so that a replay rewrites the same objects (see the
	// package documentation). Batches must carry Shard and one Origin per
	// row with its sequence number and arrival time.
	ExactlyOnce bool
	// RollRecords ends an exactly-once segment after this many rows
	// (default 1,000,000).
	RollRecords int64
	// IdleGrace: an exactly-once segment of a shard that got no row for
	// this long is sealed by wall time once its first row is RollInterval
	// old (default 2s).
	IdleGrace time.Duration
}

// UploadResult describes one file.
type UploadResult struct {
	Key   string
	Rows  int64
	Bytes int64
	// Parts is 0 for a PutObject, else the number of multipart parts.
	Parts int
	// ETag is what S3 returned for the object ("…-N" for N parts).
	ETag string
	Err  error
}

// Stats are cumulative counters.
type Stats struct {
	Files       int64 // uploaded
	FailedFiles int64 // given up on
	Rows        int64 // accepted by Write
	Bytes       int64 // uploaded
	Parts       int64 // multipart parts uploaded
	Calls       int64 // S3 calls, retries included
	Retries     int64
	// Exactly-once: segments committed, and rows skipped because they were
	// already in committed objects (a replay).
	Segments int64
	Skipped  int64
}

// Output is a flow.Output writing Parquet files to S3.
type Output struct {
	opts     Options
	log      *slog.Logger
	prefix   string
	eventCol int // -1: partition by arrival time
	sem      chan struct{}
	bufs     sync.Pool // *[]byte of PartSize capacity

	ctx    context.Context // cancelled when Close gives up: aborts calls and retries
	cancel context.CancelFunc

	mu       sync.Mutex
	open     map[int64]*file   // by partition hour (hours since the epoch)
	chains   map[string]*chain // exactly-once: by shard
	released map[string]bool   // exactly-once: shards released and not started since
	closed   bool
	draining bool // Drain was called: every write rolls at once

	stopRoll  chan struct{}
	rollDone  chan struct{}
	closeOnce sync.Once
	uploads   sync.WaitGroup // one per file's uploader goroutine

	acks ackQueue

	failMu sync.Mutex
	failed error // first file given up on

	stats struct {
		files, failedFiles, rows, bytes, parts, calls, retries, segments, skipped atomic.Int64
	}
}

// New validates opts, applies defaults and starts the output; Close stops it.
func New(opts Options) (*Output, error) {
	if opts.Client == nil || opts.Bucket == "" || opts.Schema == nil {
		return nil, errors.New("s3: client, bucket and schema are required")
	}
	if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.Name == "" {
		opts.Name = "shardflow"
		if segs := strings.Split(strings.Trim(opts.Prefix, "/"), "/"); segs[len(segs)-1] != "" {
			opts.Name = segs[len(segs)-1]
		}
	}
	if strings.Contains(opts.Name, "/") {
		return nil, fmt.Errorf("s3: name %q must not contain '/'", opts.Name)
	}
	setDefault(&opts.RollBytes, DefaultRollBytes)
	setDefault(&opts.RollInterval, DefaultRollInterval)
	setDefault(&opts.PartSize, DefaultPartSize)
	setDefault(&opts.MaxInFlightUploads, DefaultMaxInFlightUploads)
	setDefault(&opts.MaxOpenFiles, DefaultMaxOpenFiles)
	setDefault(&opts.RowGroupBytes, DefaultRowGroupBytes)
	setDefault(&opts.RetryTimeout, DefaultRetryTimeout)
	setDefault(&opts.RetryBase, defaultRetryBase)
	setDefault(&opts.RetryMaxDelay, defaultRetryMaxDelay)
	setDefault(&opts.RollRecords, DefaultRollRecords)
	setDefault(&opts.IdleGrace, DefaultIdleGrace)
	if opts.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below S3's minimum of %d", opts.PartSize, MinPartSize)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	// Refuse a schema or codec the writer cannot take now, not per file.
	probe, err := encode.NewParquet(io.Discard, opts.Schema, encode.ParquetOptions{Compression: opts.Compression, Allocator: opts.Allocator})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if err := probe.Close(); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	eventCol, err := partitionColumn(opts.PartitionBy, opts.Schema)
	if err != nil {
		return nil, err
	}
	o := &Output{
		opts:     opts,
		log:      opts.Logger.With("output", "s3", "bucket", opts.Bucket, "prefix", opts.Prefix),
		prefix:   opts.Prefix,
		eventCol: eventCol,
		sem:      make(chan struct{}, opts.MaxInFlightUploads),
		open:     map[int64]*file{},
		chains:   map[string]*chain{},
		released: map[string]bool{},
		stopRoll: make(chan struct{}),
		rollDone: make(chan struct{}),
	}
	o.bufs.New = func() any { b := make([]byte, 0, opts.PartSize); return &b }
	o.ctx, o.cancel = context.WithCancel(context.Background())
	go o.roller()
	return o, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Write encodes b's rows into the open file of their partition(s). ack is
// called once those files are uploaded. Write blocks while uploads are
// behind (back-pressure); ctx is checked only before it starts, since a half
// encoded batch cannot be taken back.
func (o *Output) Write(ctx context.Context, b *flow.Batch, ack flow.Ack) error {
	if ack == nil {
		return errors.New("s3: nil ack")
	}
	if b.Rows() > 0 && !b.Record.Schema().Equal(o.opts.Schema) {
		return fmt.Errorf("s3: batch schema %s does not match the output's %s", b.Record.Schema(), o.opts.Schema)
	}
	if o.opts.ExactlyOnce {
		return o.writeExactlyOnce(ctx, b, ack)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pw := &pendingWrite{ack: ack, left: 1} // the 1 is Write's own hold
	if err := o.writeLocked(b, pw); err != nil {
		return err
	}
	o.acks.release(pw, nil)
	return nil
}

func (o *Output) writeLocked(b *flow.Batch, pw *pendingWrite) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.acks.push(pw)
	if b.Rows() == 0 {
		return nil
	}
	for _, r := range o.runs(b) {
		o.writeRunLocked(b.Record, r, pw)
	}
	o.stats.rows.Add(int64(b.Rows()))
	if o.draining {
		for _, f := range o.open {
			o.rollLocked(f, nil)
		}
	}
	return nil
}

// writeRunLocked appends rows [r.start, r.end) of rec to the file of r.hour
// and makes pw wait for that file.
func (o *Output) writeRunLocked(rec arrow.RecordBatch, r run, pw *pendingWrite) {
	f := o.open[r.hour]
	if f != nil && f.failed.Load() {
		o.rollLocked(f, nil)
		f = nil
	}
	if f == nil {
		var err error
		if f, err = o.openLocked(r.hour); err != nil {
			o.acks.fail(pw, err)
			return
		}
	}
	f.addWrite(&o.acks, pw)
	part := rec
	if r.start != 0 || r.end != int(rec.NumRows()) {
		part = rec.NewSlice(int64(r.start), int64(r.end))
		defer part.Release()
	}
	if err := f.pw.Write(part); err != nil {
		// The file cannot be completed: upload nothing, fail its writes.
		o.rollLocked(f, fmt.Errorf("s3: encoding %s: %w", f.key, err))
		return
	}
	f.rows += int64(r.end - r.start)
	if f.size() >= o.opts.RollBytes {
		o.rollLocked(f, nil)
	}
}

// Close uploads every open file, waits for all uploads and their acks, and
// stops the output's goroutines. If ctx ends first, retries and in-flight
// calls are abandoned: their writes ack with an error, and Close returns.
func (o *Output) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // owned by Close: ends once every uploader has
		o.closeOnce.Do(func() {
			close(o.stopRoll)
			<-o.rollDone
			o.mu.Lock()
			o.closed = true
			o.rollAllLocked()
			o.mu.Unlock()
		})
		o.uploads.Wait()
		close(done)
	}()
	select {
	case <-done:
		o.cancel()
		return o.Healthy()
	case <-ctx.Done():
		o.cancel()
		<-done
		return fmt.Errorf("s3: close: %w", ctx.Err())
	}
}

// Healthy returns the first file the output gave up on, if any.
func (o *Output) Healthy() error {
	o.failMu.Lock()
	defer o.failMu.Unlock()
	return o.failed
}

// Stats returns the counters so far.
func (o *Output) Stats() Stats {
	s := &o.stats
	return Stats{
		Files: s.files.Load(), FailedFiles: s.failedFiles.Load(), Rows: s.rows.Load(), Bytes: s.bytes.Load(),
		Parts: s.parts.Load(), Calls: s.calls.Load(), Retries: s.retries.Load(),
		Segments: s.segments.Load(), Skipped: s.skipped.Load(),
	}
}

// roller rolls files older than RollInterval until Close.
func (o *Output) roller() {
	defer close(o.rollDone)
	period := min(max(o.opts.RollInterval/8, 5*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-o.stopRoll:
			return
		case <-t.C:
			o.rollExpired()
		}
	}
}

func (o *Output) rollExpired() {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.opts.Now()
	for _, f := range o.open {
		if now.Sub(f.opened) >= o.opts.RollInterval {
			o.rollLocked(f, nil)
		}
	}
	o.rollIdleLocked(now)
}

package firehose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// Firehose limits (PutRecordBatch API reference).
const (
	MaxRecordBytes       = 1_024_000
	MaxRecordsPerCall    = 500
	MaxBytesPerCall      = 4 * 1024 * 1024
	BillingIncrement     = 5 * 1024
	defaultQueuedWrites  = 64
	defaultRetryBase     = 100 * time.Millisecond
	defaultRetryMaxDelay = 10 * time.Second
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("firehose: output closed")

// RowEncoder appends one encoded row, including its line terminator.
type RowEncoder interface {
	AppendRow(dst []byte, rec arrow.RecordBatch, row int) []byte
}

// API is the part of the Firehose client the output uses.
type API interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Options configures an Output.
type Options struct {
	Client         API
	DeliveryStream string
	Encoder        RowEncoder
	// Pipeline labels dead-letter entries.
	Pipeline string
	// DeadLetter receives rows too large for one Firehose record.
	DeadLetter flow.DeadLetterOutput
	// Linger is how long a partly filled call waits for more rows.
	Linger time.Duration
	// MaxInFlight is the number of concurrent PutRecordBatch calls.
	MaxInFlight int
	// RetryTimeout bounds how long one call's failed records are retried.
	RetryTimeout time.Duration
	// RetryBase and RetryMaxDelay shape the backoff (defaults 100ms, 10s).
	RetryBase, RetryMaxDelay time.Duration
	Logger                   *slog.Logger
	// Hooks receives one FirehoseCall per PutRecordBatch attempt.
	Hooks metrics.Hooks
	// MaxRowsPerRecord caps the rows packed into one Firehose record (0:
	// no cap, only MaxRecordBytes). Dynamic partitioning deaggregates at
	// most 500 JSON objects per record; set 500 for such streams.
	MaxRowsPerRecord int
}

// Stats are cumulative counters.
type Stats struct {
	Rows, RowBytes, Records, BilledBytes, Calls, Retries, FailedRecords, FailedCalls, OversizeRows int64
}

// Output is a flow.Output that writes to one delivery stream.
type Output struct {
	opts Options
	log  *slog.Logger

	writes    chan *pendingWrite // Write → packer
	requests  chan *request      // packer → senders
	closeOnce sync.Once
	abortOnce sync.Once
	closing   chan struct{}
	packerWG  sync.WaitGroup
	senderWG  sync.WaitGroup
	writeMu   sync.RWMutex // excludes Write from Close's channel close
	closed    bool

	ackMu     sync.Mutex
	ackQueue  []queuedAck // in Write order
	doneCalls map[uint64]error
	through   uint64 // every call <= through is complete
	failed    error  // first call given up on

	stats struct {
		rows, rowBytes, records, billed, calls, retries, failedRecords, failedCalls, oversize atomic.Int64
	}
}

type pendingWrite struct {
	lines []byte
	ends  []int32 // ends[i] is the end offset of line i in lines
	ack   flow.Ack
}

type queuedAck struct {
	lastCall uint64
	ack      flow.Ack
}

type request struct {
	id      uint64
	records [][]byte
	bytes   int
}

// New starts an output; Close stops it.
func New(opts Options) (*Output, error) {
	if opts.Client == nil || opts.DeliveryStream == "" {
		return nil, errors.New("firehose: client and delivery stream are required")
	}
	if opts.MaxInFlight < 1 {
		opts.MaxInFlight = 1
	}
	if opts.RetryTimeout <= 0 {
		opts.RetryTimeout = 5 * time.Minute
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = defaultRetryBase
	}
	if opts.RetryMaxDelay <= 0 {
		opts.RetryMaxDelay = defaultRetryMaxDelay
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Hooks = metrics.OrNop(opts.Hooks)
	o := &Output{
		opts:      opts,
		log:       opts.Logger.With("output", "firehose", "delivery_stream", opts.DeliveryStream),
		writes:    make(chan *pendingWrite, defaultQueuedWrites),
		requests:  make(chan *request),
		closing:   make(chan struct{}),
		doneCalls: map[uint64]error{},
	}
	o.packerWG.Add(1)
	go o.pack()
	o.senderWG.Add(opts.MaxInFlight)
	for range opts.MaxInFlight {
		go o.send()
	}
	return o, nil
}

// Write encodes b's rows and queues them. It blocks while the queue is full.
func (o *Output) Write(ctx context.Context, b *flow.Batch, ack flow.Ack) error {
	if o.opts.Encoder == nil {
		return errors.New("firehose: this output has no row encoder (WriteLines only)")
	}
	o.writeMu.RLock()
	defer o.writeMu.RUnlock()
	if o.closed {
		return ErrClosed
	}
	pw := &pendingWrite{ack: ack}
	var oversize []flow.DeadLetter
	if n := b.Rows(); n > 0 {
		pw.ends = make([]int32, 0, n)
		pw.lines = make([]byte, 0, n*256)
		for i := range n {
			start := len(pw.lines)
			pw.lines = o.opts.Encoder.AppendRow(pw.lines, b.Record, i)
			if len(pw.lines)-start > MaxRecordBytes {
				oversize = o.oversizeEntry(oversize, b, i, pw.lines[start:])
				pw.lines = pw.lines[:start]
				continue
			}
			pw.ends = append(pw.ends, int32(len(pw.lines)))
		}
	}
	if len(oversize) > 0 {
		if o.opts.DeadLetter == nil {
			return fmt.Errorf("firehose: %d rows over %d bytes and no dead-letter output", len(oversize), MaxRecordBytes)
		}
		joined := flow.JoinAcks(2, ack)
		pw.ack = joined
		o.stats.oversize.Add(int64(len(oversize)))
		if err := o.opts.DeadLetter.WriteDeadLetters(ctx, oversize, joined); err != nil {
			return fmt.Errorf("firehose: dead-letter oversize rows: %w", err)
		}
	}
	select {
	case o.writes <- pw:
		return nil
	case <-ctx.Done():
		// Not accepted: the caller acks the batch as failed, so the joined
		// ack (if the dead-letter half fires) must never complete.
		return ctx.Err()
	}
}

// WriteLines queues lines that are already encoded: lines[ends[i-1]:ends[i]]
// is line i, terminator included. It is how other sinks (dead-letter) reuse
// the packing, retries and in-order acks. A line over MaxRecordBytes is an
// error: the caller has nowhere else to put it.
func (o *Output) WriteLines(ctx context.Context, lines []byte, ends []int32, ack flow.Ack) error {
	start := int32(0)
	for _, end := range ends {
		if end-start > MaxRecordBytes {
			return fmt.Errorf("firehose: a line of %d bytes exceeds the %d-byte record limit", end-start, MaxRecordBytes)
		}
		start = end
	}
	o.writeMu.RLock()
	defer o.writeMu.RUnlock()
	if o.closed {
		return ErrClosed
	}
	select {
	case o.writes <- &pendingWrite{lines: lines, ends: ends, ack: ack}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Output) oversizeEntry(dst []flow.DeadLetter, b *flow.Batch, row int, line []byte) []flow.DeadLetter {
	e := flow.DeadLetter{
		Reason:   fmt.Sprintf("oversize_row: %d bytes encoded, Firehose record limit is %d", len(line), MaxRecordBytes),
		Pipeline: o.opts.Pipeline,
		Shard:    b.Shard,
		Raw:      append([]byte(nil), line...),
	}
	if row < len(b.Origins) {
		e.SequenceNumber = b.Origins[row].SequenceNumber
		e.SubSequence = b.Origins[row].SubSequence
		e.ArrivalTime = b.Origins[row].ArrivalTime
	}
	return append(dst, e)
}

// Close flushes everything accepted, waits for its acks and stops the
// goroutines. If ctx ends first, Close returns its error; writes still in
// flight are acked with an error so that nothing waits forever.
func (o *Output) Close(ctx context.Context) error {
	o.closeOnce.Do(func() {
		o.writeMu.Lock()
		o.closed = true
		close(o.writes)
		o.writeMu.Unlock()
	})
	done := make(chan struct{})
	go func() { // owned by Close: ends when packer and senders have
		o.packerWG.Wait()
		o.senderWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return o.Healthy()
	case <-ctx.Done():
		o.abortOnce.Do(func() { close(o.closing) }) // stops retry loops; their calls fail
		<-done
		return fmt.Errorf("firehose: close %s: %w", o.opts.DeliveryStream, ctx.Err())
	}
}

// Healthy returns the first call the output gave up on, if any.
func (o *Output) Healthy() error {
	o.ackMu.Lock()
	defer o.ackMu.Unlock()
	return o.failed
}

// Stats returns the counters so far.
func (o *Output) Stats() Stats {
	s := &o.stats
	return Stats{
		Rows: s.rows.Load(), RowBytes: s.rowBytes.Load(), Records: s.records.Load(), BilledBytes: s.billed.Load(),
		Calls: s.calls.Load(), Retries: s.retries.Load(), FailedRecords: s.failedRecords.Load(),
		FailedCalls: s.failedCalls.Load(), OversizeRows: s.oversize.Load(),
	}
}

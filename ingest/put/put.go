package put

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/semaphore"

	"github.com/shardflow/shardflow/ingest/state"
)

// Service limits.
const (
	// MaxCallRecords is the most records of a PutRecords or
	// PutRecordBatch call.
	MaxCallRecords = 500
	// KinesisMaxRecordBytes bounds a Kinesis record's data plus its
	// partition key (1 MiB).
	KinesisMaxRecordBytes = 1 << 20
	// KinesisMaxCallBytes bounds a PutRecords call (5 MiB, partition keys
	// included).
	KinesisMaxCallBytes = 5 << 20
	// FirehoseMaxRecordBytes bounds a Firehose record (1,000 KiB).
	FirehoseMaxRecordBytes = 1_024_000
	// FirehoseMaxCallBytes bounds a PutRecordBatch call (4 MiB).
	FirehoseMaxCallBytes = 4 << 20
	// MaxPartitionKey is the longest partition key, in characters.
	MaxPartitionKey = 256
	// DefaultAggregateMaxBytes is the KPL's default aggregate size.
	DefaultAggregateMaxBytes = 51200
)

// Options configure a Sender. Exactly one of Kinesis and Firehose is set.
type Options struct {
	Kinesis        *kinesis.Client
	Stream         string
	Firehose       *firehose.Client
	DeliveryStream string
	// Aggregate packs Kinesis records into KPL aggregated records of at
	// most AggregateMaxBytes (default 51200, the KPL's).
	Aggregate         bool
	AggregateMaxBytes int
	// KeyedAggregation: records carry their own partition keys (line hash,
	// field), so aggregates are grouped by the shard each key maps to.
	KeyedAggregation bool
	// Pack puts several newline-terminated records into each Firehose
	// record (up to 1,024,000 bytes).
	Pack bool
	// MaxRecords and MaxBytes bound one call (defaults: the service's).
	MaxRecords int
	MaxBytes   int
	// Linger is how long a partly filled call waits (default 500ms).
	Linger time.Duration
	// MaxInFlight calls at once (default 4).
	MaxInFlight int
	// MaxBufferedBytes bounds the records added but not yet acknowledged
	// (default 64 MiB); Add blocks beyond it.
	MaxBufferedBytes int64
	// BackoffBase and BackoffMax shape the resend delay: a random duration
	// up to min(BackoffMax, BackoffBase·2^attempt) (defaults 100ms, 10s).
	BackoffBase, BackoffMax time.Duration
	// ShardRefresh is how often the shard map of keyed aggregation is
	// re-read (default 1m).
	ShardRefresh time.Duration
	// AfterCall, when set, runs on a worker after a call's records (their
	// tickets) were all acknowledged and before the worker takes the next
	// call: the agent waits there until the checkpoint covers them, so that
	// each worker has at most one call sent and not yet checkpointed.
	AfterCall func(ctx context.Context, tickets []state.Ticket) error
	Logger    *slog.Logger
}

// Stats are a Sender's running totals.
type Stats struct {
	RecordsAdded, RecordsAcked, BytesAcked atomic.Int64
	// Entries: service records sent (aggregates and packed records count
	// once); Calls: API calls made; CallErrors: calls that failed whole;
	// Resent: service records resent after a failure inside a call.
	Entries, Calls, CallErrors, Resent atomic.Int64
	// Buffered is the bytes of records added and not yet acknowledged.
	Buffered atomic.Int64
	// LastSuccess is when a call last succeeded (Unix nanoseconds).
	LastSuccess atomic.Int64
	lastErr     atomic.Pointer[string]
}

// LastError is the latest call failure ("" after a success).
func (s *Stats) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// entry is one service record of a call: data (and key) in the call's
// arena, and the tickets of the agent records it carries.
type entry struct {
	keyOff, keyLen   int
	dataOff, dataLen int
	ehk              string
	t0, t1           int // tickets[t0:t1]
	records, bytes   int // agent records and their data bytes
}

type call struct {
	entries []entry
	arena   []byte
	tickets []state.Ticket
	bytes   int
	budget  int64
	first   time.Time
}

func (c *call) reset() {
	c.entries, c.arena, c.tickets = c.entries[:0], c.arena[:0], c.tickets[:0]
	c.bytes, c.budget, c.first = 0, 0, time.Time{}
}

// Sender batches and puts records. See the package documentation.
type Sender struct {
	o       Options
	log     *slog.Logger
	kinesis bool
	maxRec  int // a service record's limit
	stats   Stats

	// owned by the adding goroutine
	cur     *call
	aggs    []*aggregate // one (unkeyed) or one per shard
	aggMap  *shardMap    // the map aggs are grouped by
	md5     hash.Hash
	sum     [md5.Size]byte
	rng     *rand.Rand
	keyBuf  []byte
	shardsP atomic.Pointer[shardMap] // written by the refresher

	stopRefresh chan struct{}
	refreshDone chan struct{}

	sem    *semaphore.Weighted
	calls  chan *call
	free   chan *call
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// New checks o, reads the shard map when keyed aggregation needs it, and
// starts the workers. Close stops them.
func New(ctx context.Context, o Options) (*Sender, error) {
	s := &Sender{o: o, kinesis: o.Kinesis != nil, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), md5: md5.New()}
	switch {
	case (o.Kinesis == nil) == (o.Firehose == nil):
		return nil, errors.New("put: set exactly one of a Kinesis stream and a Firehose delivery stream")
	case s.kinesis && o.Stream == "":
		return nil, errors.New("put: no stream name")
	case !s.kinesis && o.DeliveryStream == "":
		return nil, errors.New("put: no delivery stream name")
	case o.Aggregate && !s.kinesis:
		return nil, errors.New("put: KPL aggregation is for Kinesis streams (Firehose does not de-aggregate)")
	}
	s.o.MaxRecords = clamp(o.MaxRecords, 1, MaxCallRecords, MaxCallRecords)
	s.maxRec = KinesisMaxRecordBytes
	maxCall := KinesisMaxCallBytes
	if !s.kinesis {
		s.maxRec, maxCall = FirehoseMaxRecordBytes, FirehoseMaxCallBytes
	}
	s.o.MaxBytes = clamp(o.MaxBytes, s.maxRec, maxCall, maxCall)
	s.o.AggregateMaxBytes = clamp(o.AggregateMaxBytes, 1024, s.maxRec-1024, DefaultAggregateMaxBytes)
	if s.o.Linger <= 0 {
		s.o.Linger = 500 * time.Millisecond
	}
	if s.o.MaxInFlight <= 0 {
		s.o.MaxInFlight = 4
	}
	if s.o.MaxBufferedBytes <= 0 {
		s.o.MaxBufferedBytes = 64 << 20
	}
	// A whole call must fit, or Add could wait for itself.
	s.o.MaxBufferedBytes = max(s.o.MaxBufferedBytes, int64(2*s.o.MaxBytes))
	if s.o.BackoffBase <= 0 {
		s.o.BackoffBase = 100 * time.Millisecond
	}
	if s.o.BackoffMax <= 0 {
		s.o.BackoffMax = 10 * time.Second
	}
	if s.o.ShardRefresh <= 0 {
		s.o.ShardRefresh = time.Minute
	}
	s.log = o.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("destination", s.destination())
	s.sem = semaphore.NewWeighted(s.o.MaxBufferedBytes)
	// Unbuffered: a call is handed over only to a free worker, so that at
	// most MaxInFlight calls are sent and not acknowledged — what a crash
	// can make the agent send twice.
	s.calls = make(chan *call)
	s.free = make(chan *call, s.o.MaxInFlight+1)
	s.cur = s.newCall()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.o.Aggregate && s.o.KeyedAggregation {
		m, err := s.readShards(ctx)
		if err != nil {
			s.cancel()
			return nil, err
		}
		s.shardsP.Store(m)
		s.stopRefresh, s.refreshDone = make(chan struct{}), make(chan struct{})
		go s.refreshShards()
	}
	for range s.o.MaxInFlight {
		s.wg.Add(1)
		go s.worker()
	}
	return s, nil
}

func clamp(v, lo, hi, def int) int {
	if v <= 0 {
		return def
	}
	return min(max(v, lo), hi)
}

func (s *Sender) destination() string {
	if s.kinesis {
		return "kinesis:" + s.o.Stream
	}
	return "firehose:" + s.o.DeliveryStream
}

// Stats returns the Sender's running totals.
func (s *Sender) Stats() *Stats { return &s.stats }

// MaxRecordBytes is the largest record (data plus key) Add accepts.
func (s *Sender) MaxRecordBytes() int {
	if !s.kinesis {
		return s.maxRec - 1 // the line break
	}
	return s.maxRec
}

// Add queues one record; t is acknowledged once the service accepted it.
// key nil asks for a random partition key (Kinesis; Firehose has none). It
// blocks while MaxBufferedBytes are unacknowledged, and fails only when
// ctx ends first.
func (s *Sender) Add(ctx context.Context, key, data []byte, t state.Ticket, now time.Time) error {
	if len(data)+len(key) > s.MaxRecordBytes() {
		return fmt.Errorf("put: record of %d bytes is over the %d-byte limit", len(data)+len(key), s.MaxRecordBytes())
	}
	size := int64(len(data) + len(key) + 32)
	if !s.sem.TryAcquire(size) {
		s.Flush() // let what is queued go out while we wait
		if err := s.sem.Acquire(ctx, size); err != nil {
			return err
		}
	}
	s.stats.Buffered.Add(size)
	s.stats.RecordsAdded.Add(1)
	if s.o.Aggregate && len(data)+len(key)+64 <= s.o.AggregateMaxBytes {
		if s.o.KeyedAggregation && key == nil {
			key = s.randomKey()
		}
		return s.aggregateAdd(key, data, t, size, now)
	}
	if s.kinesis && key == nil {
		key = s.randomKey()
	}
	switch {
	case !s.kinesis && s.o.Pack:
		s.packAdd(data, t, size, now)
	default:
		s.appendEntry(key, "", !s.kinesis, []state.Ticket{t}, len(data), size, now, data)
	}
	return nil
}

// randomKey returns 16 random hex digits (in s.keyBuf).
func (s *Sender) randomKey() []byte {
	s.keyBuf = strconv.AppendUint(s.keyBuf[:0], s.rng.Uint64()|1<<63, 16)
	return s.keyBuf
}

// appendEntry adds one service record (data, the concatenation of its
// parts) to the current call, sending the call first when it is full.
func (s *Sender) appendEntry(key []byte, ehk string, newline bool, tickets []state.Ticket, userBytes int, budget int64, now time.Time, data ...[]byte) {
	n := len(key)
	for _, d := range data {
		n += len(d)
	}
	if newline {
		n++
	}
	c := s.cur
	if len(c.entries) == s.o.MaxRecords || c.bytes+n > s.o.MaxBytes {
		s.dispatch()
		c = s.cur
	}
	if len(c.entries) == 0 {
		c.first = now
	}
	e := entry{keyOff: len(c.arena), keyLen: len(key), ehk: ehk, t0: len(c.tickets), records: len(tickets), bytes: userBytes}
	c.arena = append(c.arena, key...)
	e.dataOff = len(c.arena)
	for _, d := range data {
		c.arena = append(c.arena, d...)
	}
	if newline {
		c.arena = append(c.arena, '\n')
	}
	e.dataLen = len(c.arena) - e.dataOff
	c.tickets = append(c.tickets, tickets...)
	e.t1 = len(c.tickets)
	c.entries = append(c.entries, e)
	c.bytes += n
	c.budget += budget
}

// packAdd appends a record to the last Firehose record of the call when it
// fits, else starts a new one.
func (s *Sender) packAdd(data []byte, t state.Ticket, budget int64, now time.Time) {
	c := s.cur
	if k := len(c.entries); k > 0 {
		e := &c.entries[k-1]
		if e.dataLen+len(data)+1 <= FirehoseMaxRecordBytes && c.bytes+len(data)+1 <= s.o.MaxBytes &&
			e.dataOff+e.dataLen == len(c.arena) && e.t1 == len(c.tickets) {
			c.arena = append(append(c.arena, data...), '\n')
			e.dataLen += len(data) + 1
			c.tickets = append(c.tickets, t)
			e.t1++
			e.records++
			e.bytes += len(data)
			c.bytes += len(data) + 1
			c.budget += budget
			return
		}
	}
	s.appendEntry(nil, "", true, []state.Ticket{t}, len(data), budget, now, data)
}

// Tick sends what waited longer than Linger.
func (s *Sender) Tick(now time.Time) {
	for _, a := range s.aggs {
		if a != nil && a.n > 0 && now.Sub(a.first) >= s.o.Linger {
			s.emitAggregate(a, now)
		}
	}
	if len(s.cur.entries) > 0 && now.Sub(s.cur.first) >= s.o.Linger {
		s.dispatch()
	}
}

// Flush sends everything added so far (without waiting for it).
func (s *Sender) Flush() {
	now := time.Now()
	for _, a := range s.aggs {
		if a != nil && a.n > 0 {
			s.emitAggregate(a, now)
		}
	}
	if len(s.cur.entries) > 0 {
		s.dispatch()
	}
}

func (s *Sender) dispatch() {
	c := s.cur
	select {
	case n := <-s.free:
		s.cur = n
	default:
		s.cur = s.newCall()
	}
	s.calls <- c
}

// newCall makes a call whose arena holds a full call without growing.
func (s *Sender) newCall() *call {
	return &call{arena: make([]byte, 0, s.o.MaxBytes+s.o.MaxRecords*(MaxPartitionKey+1))}
}

// Close sends what is left and waits for every call to be acknowledged,
// until ctx ends; then it abandons the rest (unacknowledged records are
// sent again after a restart, from the checkpoint).
func (s *Sender) Close(ctx context.Context) error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stopRefresh != nil {
		close(s.stopRefresh)
		<-s.refreshDone
	}
	s.Flush()
	close(s.calls)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return fmt.Errorf("put: %s: %d bytes of records not acknowledged at shutdown: %w", s.destination(), s.stats.Buffered.Load(), ctx.Err())
	}
}

func (s *Sender) worker() {
	defer s.wg.Done()
	for c := range s.calls {
		s.send(c)
		if s.o.AfterCall != nil {
			if err := s.o.AfterCall(s.ctx, c.tickets); err != nil && s.ctx.Err() == nil {
				s.log.Warn("after-call hook failed", "err", err)
			}
		}
		s.sem.Release(c.budget)
		s.stats.Buffered.Add(-c.budget)
		if cap(c.arena) <= 2*(s.o.MaxBytes+s.o.MaxRecords*(MaxPartitionKey+1)) {
			c.reset()
			select {
			case s.free <- c:
			default:
			}
		}
	}
}

// send makes the call, resending what failed until everything was
// accepted or the Sender is cancelled.
func (s *Sender) send(c *call) {
	pending := make([]int, len(c.entries)) // indexes of entries not accepted yet
	for i := range pending {
		pending[i] = i
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if !s.sleep(attempt) {
				return
			}
			s.stats.Resent.Add(int64(len(pending)))
		}
		failed, err := s.call(c, pending)
		s.stats.Calls.Add(1)
		if err != nil {
			s.stats.CallErrors.Add(1)
			msg := err.Error()
			s.stats.lastErr.Store(&msg)
			level := slog.LevelWarn
			if permanent(err) {
				level = slog.LevelError
			}
			if attempt == 0 || attempt%20 == 0 {
				s.log.Log(context.Background(), level, "put call failed; retrying", "records", len(pending), "attempt", attempt+1, "err", err)
			}
			continue
		}
		s.stats.lastErr.Store(nil)
		s.stats.LastSuccess.Store(time.Now().UnixNano())
		accepted := len(pending) - len(failed)
		s.stats.Entries.Add(int64(accepted))
		j := 0
		for _, i := range pending {
			if j < len(failed) && failed[j] == i {
				j++
				continue
			}
			e := &c.entries[i]
			for _, t := range c.tickets[e.t0:e.t1] {
				t.Ack()
			}
			s.stats.RecordsAcked.Add(int64(e.records))
			s.stats.BytesAcked.Add(int64(e.bytes))
		}
		if len(failed) > 0 && (attempt == 0 || attempt%20 == 0) {
			s.log.Warn("records failed inside a put call; resending them", "failed", len(failed), "of", len(pending), "attempt", attempt+1)
		}
		pending = failed
	}
}

func (s *Sender) sleep(attempt int) bool {
	ceiling := s.o.BackoffBase << min(attempt, 20)
	if ceiling > s.o.BackoffMax || ceiling <= 0 {
		ceiling = s.o.BackoffMax
	}
	d := time.Duration(rand.Int64N(int64(ceiling)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// call sends the pending entries of c once and returns the indexes (in
// pending's order) of those the service did not accept, or an error when
// the call failed as a whole.
func (s *Sender) call(c *call, pending []int) ([]int, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	var failed []int
	if s.kinesis {
		recs := make([]kintypes.PutRecordsRequestEntry, len(pending))
		for k, i := range pending {
			e := &c.entries[i]
			recs[k] = kintypes.PutRecordsRequestEntry{
				Data:         c.arena[e.dataOff : e.dataOff+e.dataLen],
				PartitionKey: aws.String(string(c.arena[e.keyOff : e.keyOff+e.keyLen])),
			}
			if e.ehk != "" {
				recs[k].ExplicitHashKey = aws.String(e.ehk)
			}
		}
		out, err := s.o.Kinesis.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.o.Stream), Records: recs})
		if err != nil {
			return nil, fmt.Errorf("put: PutRecords %s: %w", s.o.Stream, err)
		}
		if len(out.Records) != len(recs) {
			return nil, fmt.Errorf("put: PutRecords %s: %d results for %d records", s.o.Stream, len(out.Records), len(recs))
		}
		for k, r := range out.Records {
			if r.ErrorCode != nil || r.SequenceNumber == nil {
				failed = append(failed, pending[k])
			}
		}
		return failed, nil
	}
	recs := make([]fhtypes.Record, len(pending))
	for k, i := range pending {
		e := &c.entries[i]
		recs[k] = fhtypes.Record{Data: c.arena[e.dataOff : e.dataOff+e.dataLen]}
	}
	out, err := s.o.Firehose.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(s.o.DeliveryStream), Records: recs})
	if err != nil {
		return nil, fmt.Errorf("put: PutRecordBatch %s: %w", s.o.DeliveryStream, err)
	}
	if len(out.RequestResponses) != len(recs) {
		return nil, fmt.Errorf("put: PutRecordBatch %s: %d results for %d records", s.o.DeliveryStream, len(out.RequestResponses), len(recs))
	}
	for k, r := range out.RequestResponses {
		if r.ErrorCode != nil || r.RecordId == nil {
			failed = append(failed, pending[k])
		}
	}
	return failed, nil
}

// permanent reports errors that retrying will not fix without an operator
// (a missing stream, no permission): they are retried all the same — a
// record is never dropped — but logged as errors.
func permanent(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ResourceNotFoundException", "AccessDeniedException", "InvalidArgumentException", "ValidationException",
		"KMSAccessDeniedException", "KMSDisabledException", "KMSNotFoundException", "KMSInvalidStateException",
		"InvalidKMSResourceException", "UnrecognizedClientException", "InvalidSignatureException":
		return true
	}
	return false
}

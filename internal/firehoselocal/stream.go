package firehoselocal

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	statusCreating = "CREATING"
	statusActive   = "ACTIVE"
	statusDeleting = "DELETING"

	// versionID is the stream's destination version: 1 until UpdateDestination,
	// which firehose-local does not implement yet.
	versionID = "1"
)

// batch is a run of records that becomes one S3 object: records as they
// came (data), converted rows (format conversion), or the JSON error
// documents of records that failed (errType set).
type batch struct {
	data    []byte
	rows    [][]any // format conversion: the rows, encoded to Parquet at upload
	size    int     // bytes counted against the size hint and in the stats
	records int
	oldest  time.Time // arrival of the first record: names the object
	part    string    // the open-buffer map key: partition identity, or the error type
	keys    map[string]string
	errType string // !{firehose:error-output-type} of an error object
	key     string // set when sealed, kept across retries
	body    []byte // encoded object, computed on the first upload attempt
	// S3BackupMode Enabled: the same records are also written here.
	backupKey  string
	backupBody []byte
	backedUp   bool // the backup object is written; only the main one failed
}

// stagedObject is an object in a Redshift destination's intermediate
// bucket that waits for its COPY.
type stagedObject struct {
	key     string
	oldest  time.Time
	records int
}

// stream is one delivery stream: its configuration, buffer and counters.
// Its goroutine (run) owns uploads; puts only append and seal under mu.
type stream struct {
	name    string
	arn     string
	created time.Time
	dest    destination

	kick     chan struct{} // a batch was sealed: deliver without waiting a tick
	stopc    chan struct{} // closed once by stop
	stopOnce sync.Once

	// Redshift only: loadKick wakes the loader when an object is staged;
	// stagingDone is closed by run once nothing more will be staged.
	loadKick    chan struct{}
	stagingDone chan struct{}

	mu      sync.Mutex
	state   string
	open    map[string]*batch // open batches by partition ("" without dynamic partitioning) or error type
	sealed  []*batch          // waiting for upload, oldest first
	seq     int64             // records accepted: error documents' sequence numbers
	limit   int               // dynamic partitioning: active partitions at most
	faults  Faults
	rng     *rand.Rand
	stats   StreamStats
	deleted bool
	// draining is set when the final flush starts; from then on puts are
	// refused, because a record appended after that flush would be lost.
	draining bool
	// Redshift only: objects staged in S3 and waiting for COPY, oldest
	// first, and how many were left unloaded because Close's deadline
	// passed (the loader lists them in an errors manifest, best effort).
	staged    []stagedObject
	abandoned int
}

func newStream(name, arn string, created time.Time, d destination) *stream {
	return &stream{
		name:        name,
		arn:         arn,
		created:     created,
		dest:        d,
		kick:        make(chan struct{}, 1),
		stopc:       make(chan struct{}),
		loadKick:    make(chan struct{}, 1),
		stagingDone: make(chan struct{}),
		state:       statusCreating,
		rng:         newRand(0),
		open:        map[string]*batch{},
	}
}

func (st *stream) status() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.state
}

// stop asks run to flush and return. Safe to call more than once.
func (st *stream) stop() { st.stopOnce.Do(func() { close(st.stopc) }) }

// acceptingLocked reports why the stream cannot take records now, if it
// cannot. Puts check it under the same lock hold as the append, so that no
// record slips in after the final flush. Caller holds mu.
func (st *stream) acceptingLocked(s *Server) error {
	switch {
	case st.draining && !st.deleted:
		return serviceUnavailable("firehose-local is shutting down")
	case st.state != statusActive:
		return s.notFound(st.name)
	}
	return nil
}

// appendLocked takes one record that arrived at now through the
// destination's processing: record deaggregation and partition keys
// (dynamic partitioning), format conversion, AppendDelimiterToRecord. What
// fails goes, as an error document, to an error object. Caller holds mu.
func (st *stream) appendLocked(data []byte, now time.Time) {
	st.stats.RecordsAccepted++
	st.stats.BytesAccepted += int64(len(data))
	st.seq++
	d := &st.dest
	if !d.dynamic && d.conv == nil {
		st.addLocked("", nil, data, nil, now)
		return
	}
	subs := [][]byte{data}
	if d.dynamic && d.proc.deaggregate != "" {
		var err error
		if subs, err = d.proc.deaggregateRecord(data); err != nil {
			st.partitionFailedLocked(data, extractionFailedCode, partitioningErrorType, err, now)
			return
		}
	}
	for _, sub := range subs {
		part, keys := "", map[string]string(nil)
		if d.dynamic {
			var err error
			if keys, err = d.proc.partitionKeys(sub, d.keyNames); err != nil {
				st.partitionFailedLocked(sub, extractionFailedCode, partitioningErrorType, err, now)
				continue
			}
			part = d.keyPrefix.evalKeys(now, "", keys, false)
			if len(part) > maxEvaluatedPrefix {
				st.partitionFailedLocked(sub, extractionFailedCode, partitioningErrorType,
					fmt.Errorf("the prefix evaluates to %d characters, more than %d", len(part), maxEvaluatedPrefix), now)
				continue
			}
			if _, open := st.open[part]; !open && st.activePartitionsLocked() >= st.limit {
				st.partitionFailedLocked(sub, activePartitionCode, activePartitionErrorType,
					fmt.Errorf("the stream has %d active partitions, its limit", st.limit), now)
				continue
			}
		}
		if d.conv == nil {
			st.addLocked(part, keys, sub, nil, now)
			continue
		}
		rows, err := d.conv.convertRecord(sub)
		if err != nil {
			doc, _ := json.Marshal(conversionFailure{
				AttemptsMade: 1, ArrivalTimestamp: now.UnixMilli(), LastErrorCode: malformedDataCode,
				LastErrorMessage: err.Error(), AttemptEndingTimestamp: now.UnixMilli(), RawData: sub,
				SequenceNumber: strconv.FormatInt(st.seq, 10), DataCatalogTable: d.conv.catalog,
			})
			st.addErrorLocked(conversionErrorType, doc, now)
			st.stats.RecordsFailedConversion++
			continue
		}
		st.addLocked(part, keys, sub, rows, now)
	}
}

// partitionFailedLocked writes a record's error document under the error
// prefix with the given error type.
func (st *stream) partitionFailedLocked(data []byte, code, errType string, err error, now time.Time) {
	doc, _ := json.Marshal(partitioningFailure{
		AttemptsMade: 1, ArrivalTimestamp: now.UnixMilli(), ErrorCode: code, ErrorMessage: err.Error(),
		AttemptEndingTimestamp: now.UnixMilli(), RawData: data,
	})
	st.addErrorLocked(errType, doc, now)
	st.stats.RecordsFailedPartitioning++
}

func (st *stream) addErrorLocked(errType string, doc []byte, now time.Time) {
	b := st.batchLocked("\x00"+errType, nil, now)
	b.errType = errType
	b.data = append(append(b.data, doc...), '\n')
	b.records++
	b.size += len(doc) + 1
	st.stats.BufferedBytes += int64(len(doc) + 1)
	st.sealIfFullLocked(b)
}

// activePartitionsLocked counts partitions with data not yet delivered.
func (st *stream) activePartitionsLocked() int {
	seen := map[string]bool{}
	for part, b := range st.open {
		if b.errType == "" {
			seen[part] = true
		}
	}
	for _, b := range st.sealed {
		if b.errType == "" {
			seen[b.part] = true
		}
	}
	return len(seen)
}

// batchLocked returns the open batch of part, opening it.
func (st *stream) batchLocked(part string, keys map[string]string, now time.Time) *batch {
	b := st.open[part]
	if b == nil {
		b = &batch{oldest: now, part: part, keys: keys}
		st.open[part] = b
	}
	return b
}

// addLocked buffers one (sub-)record in its partition's batch, followed by
// a newline when the AppendDelimiterToRecord processor is on, or its
// converted rows. It seals the batch first when the record would take it
// past the size hint, and after when the record fills it, so objects stay
// within SizeInMBs (a record is at most 1,024,000 bytes, below the 1 MiB
// minimum hint).
func (st *stream) addLocked(part string, keys map[string]string, data []byte, rows [][]any, now time.Time) {
	n := len(data)
	if st.dest.proc.appendNewline && rows == nil {
		n++
	}
	if b := st.open[part]; b != nil && b.size+n > st.dest.sizeThreshold() {
		st.sealBatchLocked(b)
	}
	b := st.batchLocked(part, keys, now)
	if rows != nil {
		b.rows = append(b.rows, rows...)
	} else {
		b.data = append(b.data, data...)
		if st.dest.proc.appendNewline {
			b.data = append(b.data, '\n')
		}
	}
	b.size += n
	b.records++
	st.stats.BufferedBytes += int64(n)
	st.sealIfFullLocked(b)
}

func (st *stream) sealIfFullLocked(b *batch) {
	if b.size >= st.dest.sizeThreshold() {
		st.sealBatchLocked(b)
	}
}

// sealLocked seals every open batch. Caller holds mu.
func (st *stream) sealLocked() {
	for _, b := range st.open {
		st.sealBatchLocked(b)
	}
}

// sealBatchLocked closes b and queues it for upload under a key fixed now,
// so that retries overwrite the same object. Caller holds mu.
func (st *stream) sealBatchLocked(b *batch) {
	delete(st.open, b.part)
	t := &st.dest.s3Target
	switch {
	case b.errType != "":
		b.key = t.errPrefix.eval(b.oldest, b.errType) + objectName(st.name, b.oldest, uuid.NewString()) + t.extension()
	default:
		b.key = t.keyPrefix.evalKeys(b.oldest, "", b.keys, true) + objectName(st.name, b.oldest, uuid.NewString()) + t.extension()
	}
	if st.dest.backup != nil {
		b.backupKey = objectKey(st.dest.backup, st.name, b.oldest, uuid.NewString())
	}
	st.sealed = append(st.sealed, b)
	select {
	case st.kick <- struct{}{}:
	default: // a kick is already pending
	}
}

// sealIfDue applies the interval trigger: an open batch is sealed once its
// oldest record has waited IntervalInSeconds.
func (st *stream) sealIfDue(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, b := range st.open {
		if now.Sub(b.oldest) >= time.Duration(st.dest.intervalSec)*time.Second {
			st.sealBatchLocked(b)
		}
	}
}

// next returns the oldest sealed batch, or nil.
func (st *stream) next() *batch {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.sealed) == 0 {
		return nil
	}
	return st.sealed[0]
}

// delivered removes b, which was uploaded, from the queue. For Redshift it
// hands the staged object to the loader.
func (st *stream) delivered(b *batch) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sealed = st.sealed[1:]
	st.stats.ObjectsDelivered++
	st.stats.RecordsDelivered += int64(b.records)
	st.stats.BytesDelivered += int64(b.size)
	st.stats.BufferedBytes -= int64(b.size)
	if st.dest.kind != kindRedshift {
		return
	}
	st.staged = append(st.staged, stagedObject{key: b.key, oldest: b.oldest, records: b.records})
	st.stats.ObjectsPendingLoad++
	select {
	case st.loadKick <- struct{}{}:
	default:
	}
}

func (st *stream) deliveryFailed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stats.DeliveryFailures++
	st.stats.LastDeliveryError = err.Error()
}

// run is the stream's goroutine: creation delay, then the interval ticker
// and uploads, then a final flush when stopped.
func (st *stream) run(s *Server) {
	if d := s.cfg.CreateDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-st.stopc:
			t.Stop()
			return // nothing can have been buffered while CREATING
		}
	}
	st.mu.Lock()
	if st.state == statusCreating {
		st.state = statusActive
	}
	st.mu.Unlock()

	if st.dest.kind == kindRedshift {
		// The loader runs COPYs one at a time while staging goes on; it
		// finishes the staged objects after the final flush.
		loaderDone := make(chan struct{})
		go func() {
			defer close(loaderDone)
			st.loadLoop(s)
		}()
		defer func() {
			close(st.stagingDone)
			<-loaderDone
		}()
	}

	tick := time.NewTicker(s.cfg.FlushTick)
	defer tick.Stop()
	var r retry
	for {
		select {
		case <-st.stopc:
			st.drain(s)
			return
		case <-tick.C:
			st.sealIfDue(s.cfg.Now())
		case <-st.kick:
		}
		if r.due() {
			st.deliverAll(s, &r)
		}
	}
}

// deliverAll uploads sealed batches in order until the queue is empty or an
// upload fails; a failure schedules the next attempt on r.
func (st *stream) deliverAll(s *Server, r *retry) {
	for b := st.next(); b != nil; b = st.next() {
		if err := s.upload(s.baseCtx, st, b); err != nil {
			st.deliveryFailed(err)
			wait := r.failed()
			s.log.Warn("S3 delivery failed; keeping the buffer and retrying",
				"stream", st.name, "key", b.key, "retry_in", wait, "err", err)
			return
		}
		r.succeeded()
		st.delivered(b)
	}
}

// drain seals the open batch and uploads everything, retrying with backoff
// until it succeeds or the server's context ends (Close's deadline).
func (st *stream) drain(s *Server) {
	st.mu.Lock()
	st.draining = true
	st.sealLocked()
	st.mu.Unlock()
	var r retry
	for st.next() != nil {
		st.deliverAll(s, &r)
		if st.next() == nil {
			return
		}
		t := time.NewTimer(r.wait())
		select {
		case <-t.C:
		case <-s.baseCtx.Done():
			t.Stop()
			s.log.Error("giving up delivery at shutdown", "stream", st.name,
				"undelivered_bytes", st.snapshot().BufferedBytes)
			return
		}
	}
}

// retry is an upload backoff: real time, not the injected clock, because it
// paces calls to S3 rather than emulating Firehose time.
type retry struct {
	failures int
	at       time.Time
}

const (
	retryBase = 100 * time.Millisecond
	retryMax  = 5 * time.Second
)

func (r *retry) due() bool { return r.at.IsZero() || !time.Now().Before(r.at) }

func (r *retry) wait() time.Duration { return time.Until(r.at) }

func (r *retry) failed() time.Duration {
	d := retryBase << min(r.failures, 10)
	d = min(d, retryMax)
	r.failures++
	r.at = time.Now().Add(d)
	return d
}

func (r *retry) succeeded() { *r = retry{} }

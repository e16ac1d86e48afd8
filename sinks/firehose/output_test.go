package firehose_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/firehoselocal"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/sinks/encode"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

const bucket = "out"

var clickSchema = []decode.Field{
	{Name: "event_id", Type: decode.String}, {Name: "user_id", Type: decode.String},
	{Name: "page", Type: decode.String}, {Name: "country", Type: decode.String},
	{Name: "ts", Type: decode.Timestamp}, {Name: "price", Type: decode.Float64},
	{Name: "user_agent", Type: decode.String},
}

// env is an in-process firehose-local delivering to an in-memory S3.
type env struct {
	fl  *firehoselocal.Server
	fh  *firehose.Client
	s3  *s3.Client
	dec *decode.Decoder
	mem *memory.CheckedAllocator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(s3srv.URL); o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fl, err := firehoselocal.New(firehoselocal.Config{S3: s3c})
	if err != nil {
		t.Fatal(err)
	}
	flsrv := httptest.NewServer(fl)
	t.Cleanup(func() { flsrv.Close(); _ = fl.Close(context.Background()) })
	fh := firehose.NewFromConfig(cfg, func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(flsrv.URL)
		o.RetryMaxAttempts = 1
		o.HTTPClient = fhout.HTTPClient()
	})
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	dec, err := decode.New(mem, clickSchema)
	if err != nil {
		t.Fatal(err)
	}
	return &env{fl: fl, fh: fh, s3: s3c, dec: dec, mem: mem}
}

func (e *env) stream(t *testing.T, name string, faults firehoselocal.Faults) {
	t.Helper()
	if err := delivered.CreateDeliveryStream(context.Background(), e.fh, name, bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.fl.SetFaults(name, faults); err != nil {
		t.Fatal(err)
	}
}

func (e *env) output(t *testing.T, name string, mut func(*fhout.Options)) *fhout.Output {
	t.Helper()
	enc, err := encode.NewNDJSON(e.dec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	opts := fhout.Options{
		Client: e.fh, DeliveryStream: name, Encoder: enc, Pipeline: "test",
		Linger: 20 * time.Millisecond, MaxInFlight: 4, RetryTimeout: time.Minute,
		RetryBase: 2 * time.Millisecond, RetryMaxDelay: 50 * time.Millisecond,
	}
	if mut != nil {
		mut(&opts)
	}
	o, err := fhout.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// batches builds n batches of rows click events each, returning their ids.
func (e *env) batches(t *testing.T, seed uint64, n, rows int) ([]*flow.Batch, map[string]bool) {
	t.Helper()
	gen := workload.New(workload.Config{Seed: seed, Total: n * rows})
	ids := map[string]bool{}
	var out []*flow.Batch
	for b := range n {
		recs := make([]flow.SourceRecord, rows)
		for i := range recs {
			ev := gen.Next()
			ids[ev.ID()] = true
			recs[i] = flow.SourceRecord{Data: ev.AppendJSON(nil), SequenceNumber: fmt.Sprintf("%d", b*rows+i)}
		}
		batch, dead := e.dec.Decode("shardId-000000000000", recs)
		if len(dead) != 0 {
			t.Fatalf("generated events rejected: %v", dead[0].Reason)
		}
		out = append(out, batch)
	}
	return out, ids
}

// ackLog records acks in arrival order.
type ackLog struct {
	mu   sync.Mutex
	seen []int
	errs []error
	all  sync.WaitGroup
}

func (a *ackLog) ack(i int) flow.Ack {
	a.all.Add(1)
	return func(err error) {
		a.mu.Lock()
		a.seen = append(a.seen, i)
		a.errs = append(a.errs, err)
		a.mu.Unlock()
		a.all.Done()
	}
}

func writeAll(t *testing.T, o *fhout.Output, batches []*flow.Batch) *ackLog {
	t.Helper()
	log := &ackLog{}
	for i, b := range batches {
		if err := o.Write(context.Background(), b, log.ack(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		b.Record.Release()
	}
	return log
}

func (e *env) collect(t *testing.T, name string, want int) *delivered.Result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := delivered.Collect(context.Background(), e.s3, bucket, name+"/", "event_id", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.IDs) >= want || time.Now().After(deadline) {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exactlyOnce(t *testing.T, res *delivered.Result, ids map[string]bool) {
	t.Helper()
	for id := range ids {
		if res.IDs[id] != 1 {
			t.Fatalf("id %s delivered %d times (rows %d, distinct %d, want %d)", id, res.IDs[id], res.Rows, len(res.IDs), len(ids))
		}
	}
	if res.Rows != len(ids) || res.BadLines != 0 {
		t.Fatalf("delivered %d rows (%d unreadable), want %d", res.Rows, res.BadLines, len(ids))
	}
}

func TestOutputDeliversEveryRowOnceAndAcksInOrder(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "clean", firehoselocal.Faults{})
	o := e.output(t, "clean", nil)
	batches, ids := e.batches(t, 1, 40, 500)
	log := writeAll(t, o, batches)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.all.Wait()
	for i, got := range log.seen {
		if got != i || log.errs[i] != nil {
			t.Fatalf("ack %d was for write %d (err %v): acks must arrive in write order, all nil", i, got, log.errs[i])
		}
	}
	exactlyOnce(t, e.collect(t, "clean", len(ids)), ids)
	s := o.Stats()
	t.Logf("stats: %+v", s)
	if s.Rows != int64(len(ids)) || s.Retries != 0 {
		t.Fatalf("stats rows %d retries %d, want %d and 0", s.Rows, s.Retries, len(ids))
	}
	// ~6 MB of rows must have been packed into few records, cheaply billed.
	if s.Records > 20 {
		t.Fatalf("%d rows went out as %d records: not packed", s.Rows, s.Records)
	}
	if ratio := float64(s.BilledBytes) / float64(s.RowBytes); ratio > 1.01 {
		t.Fatalf("billed/payload = %.4f, want ≤ 1.01", ratio)
	}
	e.mem.AssertSize(t, 0)
}

// With 20% of records throttled and 5% of calls failing, every row still
// arrives exactly once: only failed records are resent.
func TestOutputRetriesFailedRecordsOnlyByIndex(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "faulty", firehoselocal.Faults{ThrottleFraction: 0.2, FailCallFraction: 0.05, Seed: 3})
	// Small linger and records: many calls, many partial failures.
	o := e.output(t, "faulty", func(o *fhout.Options) { o.Linger = 0 })
	batches, ids := e.batches(t, 2, 200, 50)
	log := writeAll(t, o, batches)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.all.Wait()
	for i, err := range log.errs {
		if err != nil {
			t.Fatalf("write %d acked with error: %v", log.seen[i], err)
		}
	}
	s := o.Stats()
	t.Logf("stats: %+v", s)
	if s.FailedRecords == 0 || s.Retries == 0 {
		t.Fatalf("no failures were injected/seen: %+v", s)
	}
	exactlyOnce(t, e.collect(t, "faulty", len(ids)), ids)
}

func TestOutputGivesUpAfterRetryTimeoutAndTurnsUnhealthy(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "down", firehoselocal.Faults{FailCallFraction: 1})
	o := e.output(t, "down", func(o *fhout.Options) { o.RetryTimeout = 300 * time.Millisecond })
	batches, _ := e.batches(t, 3, 3, 10)
	log := writeAll(t, o, batches)
	log.all.Wait()
	for i, err := range log.errs {
		if err == nil {
			t.Fatalf("write %d acked as durable while every call failed", log.seen[i])
		}
	}
	if o.Healthy() == nil {
		t.Fatal("output healthy after giving up")
	}
	if err := o.Close(context.Background()); err == nil {
		t.Fatal("Close of an unhealthy output returned nil")
	}
}

type deadLetters struct {
	mu      sync.Mutex
	entries []flow.DeadLetter
}

func (d *deadLetters) WriteDeadLetters(_ context.Context, es []flow.DeadLetter, ack flow.Ack) error {
	d.mu.Lock()
	d.entries = append(d.entries, es...)
	d.mu.Unlock()
	ack(nil)
	return nil
}
func (d *deadLetters) Close(context.Context) error { return nil }

func TestOutputSendsOversizeRowsToDeadLetter(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "big", firehoselocal.Faults{})
	dl := &deadLetters{}
	o := e.output(t, "big", func(o *fhout.Options) { o.DeadLetter = dl })
	huge := `{"event_id":"huge","user_id":"u","page":"p","country":"DE","ts":"2026-11-22T00:00:00Z","price":1,"user_agent":"` +
		strings.Repeat("x", fhout.MaxRecordBytes) + `"}`
	small := `{"event_id":"small","user_id":"u","page":"p","country":"DE","ts":"2026-11-22T00:00:00Z","price":1,"user_agent":"a"}`
	b, dead := e.dec.Decode("shardId-1", []flow.SourceRecord{
		{Data: []byte(small), SequenceNumber: "1"}, {Data: []byte(huge), SequenceNumber: "2"},
	})
	if len(dead) != 0 {
		t.Fatalf("decode rejected: %v", dead[0].Reason)
	}
	log := &ackLog{}
	if err := o.Write(context.Background(), b, log.ack(0)); err != nil {
		t.Fatal(err)
	}
	b.Record.Release()
	log.all.Wait()
	if log.errs[0] != nil {
		t.Fatalf("ack: %v", log.errs[0])
	}
	if len(dl.entries) != 1 || dl.entries[0].SequenceNumber != "2" || !strings.HasPrefix(dl.entries[0].Reason, "oversize_row") {
		t.Fatalf("dead letters = %+v, want the row at sequence 2 with reason oversize_row", dl.entries)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := e.collect(t, "big", 1)
	if res.Rows != 1 || res.IDs["small"] != 1 {
		t.Fatalf("delivered rows %d ids %v, want only the small row", res.Rows, res.IDs)
	}
}

// MaxRowsPerRecord caps the rows of a record (dynamic partitioning splits
// at most 500 JSON objects out of one): 20,000 rows (about 6 records
// without the cap) go out in at least 40 records, every row once.
func TestOutputMaxRowsPerRecord(t *testing.T) {
	e := newEnv(t)
	e.stream(t, "capped", firehoselocal.Faults{})
	o := e.output(t, "capped", func(o *fhout.Options) { o.MaxRowsPerRecord = 500 })
	batches, ids := e.batches(t, 3, 40, 500)
	log := writeAll(t, o, batches)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.all.Wait()
	exactlyOnce(t, e.collect(t, "capped", len(ids)), ids)
	if s := o.Stats(); s.Records < int64((len(ids)+499)/500) || s.Records > int64(len(ids)/250) {
		t.Fatalf("%d rows in %d records, want records of at most (and mostly) 500 rows", s.Rows, s.Records)
	}
}

package put

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/firehoselocal"
	"github.com/shardflow/shardflow/internal/testenv"
	fhout "github.com/shardflow/shardflow/sinks/firehose"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func kinesisClient(env *testenv.Env, endpoint string) *kinesis.Client {
	return kinesis.NewFromConfig(env.AWSConfig(), func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
		o.HTTPClient = fhout.HTTPClient()
	})
}

// streamRecord is one record read back from a stream.
type streamRecord struct {
	shard, key string
	data       []byte
}

// readStream reads every record of every shard from TRIM_HORIZON.
func readStream(t *testing.T, kc *kinesis.Client, stream string) []streamRecord {
	t.Helper()
	ctx := context.Background()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamRecord
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: kintypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			res, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				out = append(out, streamRecord{*sh.ShardId, *r.PartitionKey, r.Data})
			}
			if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// userRecords de-aggregates what was read into the agent's records.
func userRecords(t *testing.T, recs []streamRecord) (data []string, aggregates int) {
	t.Helper()
	for _, r := range recs {
		subs, isAgg, err := kpl.Deaggregate(r.data)
		if err != nil {
			t.Fatalf("corrupt aggregate in shard %s: %v", r.shard, err)
		}
		if !isAgg {
			data = append(data, string(r.data))
			continue
		}
		aggregates++
		for _, s := range subs {
			data = append(data, string(s.Data))
		}
	}
	return data, aggregates
}

// exactlyOnce checks that got holds each of want once.
func exactlyOnce(t *testing.T, got []string, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups += n - 1
		}
	}
	missing := 0
	for i := range want {
		if seen[record(i)] == 0 {
			missing++
		}
	}
	if len(got) != want || dups != 0 || missing != 0 {
		t.Fatalf("%d records arrived for %d sent: %d duplicates, %d missing", len(got), want, dups, missing)
	}
}

func record(i int) string {
	return fmt.Sprintf(`{"id":"r-%d","user":"u-%d","pad":"%s"}`, i, i%37, strings.Repeat("p", i%200))
}

// addAll adds n records with tickets on one source and returns it.
func addAll(t *testing.T, s *Sender, n int, key func(i int) []byte) *state.Progress {
	return addAllFlushing(t, s, n, key, 0)
}

// addAllFlushing also sends the call under construction every flushEvery
// records (0: never), making many small calls.
func addAllFlushing(t *testing.T, s *Sender, n int, key func(i int) []byte, flushEvery int) *state.Progress {
	t.Helper()
	p := state.NewProgress(state.Identity{Kind: "file"}, state.Position{})
	ctx := context.Background()
	for i := range n {
		tk := p.Register(state.Position{Offset: int64(i + 1), Lines: int64(i + 1)})
		var k []byte
		if key != nil {
			k = key(i)
		}
		if err := s.Add(ctx, k, []byte(record(i)), tk, time.Now()); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			s.Tick(time.Now())
		}
		if flushEvery > 0 && i%flushEvery == 0 {
			s.Flush()
		}
	}
	return p
}

func closeSender(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKinesisRecordsArriveOnce(t *testing.T) {
	env := testenv.Load(t)
	kc := kinesisClient(env, env.KinesisEndpoint)
	for _, c := range []struct {
		name      string
		aggregate bool
		keyed     bool
	}{{"plain", false, false}, {"aggregated", true, false}, {"aggregated by shard", true, true}} {
		t.Run(c.name, func(t *testing.T) {
			stream := testenv.UniqueName(t, "put")
			testenv.CreateStream(t, kc, stream, 3)
			s, err := New(context.Background(), Options{Kinesis: kc, Stream: stream, Aggregate: c.aggregate, KeyedAggregation: c.keyed,
				AggregateMaxBytes: 8192, Linger: 20 * time.Millisecond, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			var key func(int) []byte
			if c.keyed {
				key = func(i int) []byte { return []byte(fmt.Sprintf("u-%d", i%37)) }
			}
			const n = 2000
			p := addAll(t, s, n, key)
			closeSender(t, s)
			if c := p.Committed(); c.Offset != n {
				t.Fatalf("committed %+v, want every record acknowledged", c)
			}
			recs := readStream(t, kc, stream)
			data, aggs := userRecords(t, recs)
			exactlyOnce(t, data, n)
			st := s.Stats()
			if st.RecordsAcked.Load() != n || st.Buffered.Load() != 0 {
				t.Errorf("stats: %d acked, %d bytes still buffered", st.RecordsAcked.Load(), st.Buffered.Load())
			}
			if c.aggregate && (aggs == 0 || int64(aggs) != st.Entries.Load() || aggs > n/10) {
				t.Errorf("%d aggregates for %d records (%d entries put)", aggs, n, st.Entries.Load())
			}
			if c.keyed {
				// Every sub-record of a key sits in the shard Kinesis maps
				// the key to: the shard of its plain put.
				shardOf := map[string]string{}
				for _, r := range recs {
					subs, _, _ := kpl.Deaggregate(r.data)
					for _, sub := range subs {
						if prev, ok := shardOf[sub.PartitionKey]; ok && prev != r.shard {
							t.Fatalf("key %s in shards %s and %s", sub.PartitionKey, prev, r.shard)
						}
						shardOf[sub.PartitionKey] = r.shard
					}
				}
				for k, sh := range shardOf {
					out, err := kc.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(k), Data: []byte("x")})
					if err != nil {
						t.Fatal(err)
					}
					if *out.ShardId != sh {
						t.Errorf("key %s: aggregated into %s, Kinesis maps it to %s", k, sh, *out.ShardId)
					}
				}
			}
		})
	}
}

// faultyKinesis stands between the SDK and kinesalite and fails what the
// real service fails under load, which kinesalite never does: a fraction of
// a PutRecords call's records (ProvisionedThroughputExceededException, in a
// 200 response with FailedRecordCount) and a fraction of whole calls (500
// InternalFailure). The other records go to kinesalite.
type faultyKinesis struct {
	target               string
	recordFail, callFail float64
	mu                   sync.Mutex
	rng                  *rand.Rand
	failedRecords        atomic.Int64
	failedCalls          atomic.Int64
}

func (f *faultyKinesis) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	forward := func(b []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(r.Method, f.target+r.URL.Path, bytes.NewReader(b))
		for k, v := range r.Header {
			if k != "Content-Length" {
				req.Header[k] = v
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return nil, nil
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp, rb
	}
	if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
		resp, rb := forward(body)
		if resp != nil {
			w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
			w.WriteHeader(resp.StatusCode)
			w.Write(rb)
		}
		return
	}
	f.mu.Lock()
	failCall := f.rng.Float64() < f.callFail
	var in struct {
		StreamName string
		Records    []json.RawMessage
	}
	json.Unmarshal(body, &in)
	fail := make([]bool, len(in.Records))
	var keep []json.RawMessage
	for i := range fail {
		fail[i] = f.rng.Float64() < f.recordFail
		if !fail[i] {
			keep = append(keep, in.Records[i])
		}
	}
	f.mu.Unlock()
	if failCall {
		f.failedCalls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"__type":"InternalFailure","message":"injected"}`))
		return
	}
	type result struct {
		SequenceNumber string `json:",omitempty"`
		ShardId        string `json:",omitempty"`
		ErrorCode      string `json:",omitempty"`
		ErrorMessage   string `json:",omitempty"`
	}
	var got struct{ Records []result }
	if len(keep) > 0 {
		fb, _ := json.Marshal(map[string]any{"StreamName": in.StreamName, "Records": keep})
		resp, rb := forward(fb)
		if resp == nil {
			return
		}
		if resp.StatusCode != http.StatusOK {
			w.WriteHeader(resp.StatusCode)
			w.Write(rb)
			return
		}
		json.Unmarshal(rb, &got)
	}
	out := struct {
		FailedRecordCount int
		Records           []result
	}{}
	k := 0
	for i := range fail {
		if fail[i] {
			out.FailedRecordCount++
			out.Records = append(out.Records, result{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate exceeded for shard (injected)"})
			continue
		}
		out.Records = append(out.Records, got.Records[k])
		k++
	}
	f.failedRecords.Add(int64(out.FailedRecordCount))
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func TestKinesisFailuresAreResentAlone(t *testing.T) {
	env := testenv.Load(t)
	direct := kinesisClient(env, env.KinesisEndpoint)
	stream := testenv.UniqueName(t, "putfail")
	testenv.CreateStream(t, direct, stream, 2)
	fk := &faultyKinesis{target: env.KinesisEndpoint, recordFail: 0.3, callFail: 0.15, rng: rand.New(rand.NewPCG(5, 6))}
	proxy := httptest.NewServer(fk)
	defer proxy.Close()
	s, err := New(context.Background(), Options{Kinesis: kinesisClient(env, proxy.URL), Stream: stream, MaxRecords: 100,
		Linger: 10 * time.Millisecond, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	p := addAll(t, s, n, nil)
	closeSender(t, s)
	data, _ := userRecords(t, readStream(t, direct, stream))
	exactlyOnce(t, data, n)
	if fk.failedRecords.Load() == 0 || fk.failedCalls.Load() == 0 || s.Stats().Resent.Load() < fk.failedRecords.Load() {
		t.Errorf("faults: %d records, %d calls failed; %d resent", fk.failedRecords.Load(), fk.failedCalls.Load(), s.Stats().Resent.Load())
	}
	if c := p.Committed(); c.Offset != n {
		t.Fatalf("committed %+v", c)
	}
}

// firehoseEnv is an in-process firehose-local (its fault injection is
// per stream) delivering to an in-memory S3.
func firehoseEnv(t *testing.T) (*firehoselocal.Server, *firehose.Client, *s3.Client) {
	t.Helper()
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(s3srv.URL); o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("agent-bucket")}); err != nil {
		t.Fatal(err)
	}
	fl, err := firehoselocal.New(firehoselocal.Config{S3: s3c})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fl)
	t.Cleanup(func() { srv.Close(); fl.Close(context.Background()) })
	fh := firehose.NewFromConfig(cfg, func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.RetryMaxAttempts = 1
		o.HTTPClient = fhout.HTTPClient()
	})
	return fl, fh, s3c
}

func TestFirehosePackedThrottledAndFailingCalls(t *testing.T) {
	for _, pack := range []bool{true, false} {
		t.Run(fmt.Sprintf("pack=%v", pack), func(t *testing.T) {
			fl, fh, s3c := firehoseEnv(t)
			if err := delivered.CreateDeliveryStream(context.Background(), fh, "agent", "agent-bucket", time.Second); err != nil {
				t.Fatal(err)
			}
			if err := fl.SetFaults("agent", firehoselocal.Faults{ThrottleFraction: 0.2, FailCallFraction: 0.1, Seed: 9}); err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), Options{Firehose: fh, DeliveryStream: "agent", Pack: pack, MaxRecords: 50,
				Linger: 10 * time.Millisecond, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			const n = 3000
			addAllFlushing(t, s, n, nil, 40) // many calls, so that faults hit some
			closeSender(t, s)
			if err := fl.Close(context.Background()); err != nil { // delivers what is buffered
				t.Fatal(err)
			}
			res, err := delivered.Collect(context.Background(), s3c, "agent-bucket", "", "id", 0)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows != n || res.BadLines != 0 || len(res.IDs) != n {
				t.Fatalf("%d rows in S3 (%d distinct, %d unreadable), want %d once each", res.Rows, len(res.IDs), res.BadLines, n)
			}
			st := s.Stats()
			if st.Resent.Load() == 0 || st.CallErrors.Load() == 0 {
				t.Errorf("no faults exercised: resent %d, call errors %d", st.Resent.Load(), st.CallErrors.Load())
			}
			if pack && st.Entries.Load() > 2*(n/40+2) { // about one per flush (linger adds some)
				t.Errorf("packing: %d Firehose records for %d lines", st.Entries.Load(), n)
			}
			if !pack && st.Entries.Load() != n {
				t.Errorf("%d Firehose records for %d lines", st.Entries.Load(), n)
			}
		})
	}
}

// TestAddBlocksWhenBufferIsFull: with calls slowed down, Add waits once
// MaxBufferedBytes are unacknowledged, and never buffers more.
func TestAddBlocksWhenBufferIsFull(t *testing.T) {
	fl, fh, _ := firehoseEnv(t)
	if err := delivered.CreateDeliveryStream(context.Background(), fh, "slow", "agent-bucket", time.Second); err != nil {
		t.Fatal(err)
	}
	fl.SetFaults("slow", firehoselocal.Faults{Latency: 200 * time.Millisecond})
	s, err := New(context.Background(), Options{Firehose: fh, DeliveryStream: "slow", MaxRecords: 10, MaxInFlight: 1,
		MaxBufferedBytes: 1, Linger: time.Millisecond, Logger: quiet}) // raised to two calls' bytes
	if err != nil {
		t.Fatal(err)
	}
	limit := s.o.MaxBufferedBytes
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b := s.Stats().Buffered.Load(); b > peak.Load() {
				peak.Store(b)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	big := bytes.Repeat([]byte("x"), 900_000)
	p := state.NewProgress(state.Identity{}, state.Position{})
	start := time.Now()
	for i := range 30 {
		if err := s.Add(context.Background(), nil, big, p.Register(state.Position{Offset: int64(i + 1)}), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	closeSender(t, s)
	close(stop)
	if peak.Load() > limit {
		t.Errorf("buffered %d bytes, limit %d", peak.Load(), limit)
	}
	// 30 records of 900 KB, about 4 per 4 MiB call at 200 ms per call and
	// one call at a time: Add must have waited for calls.
	if elapsed < 600*time.Millisecond {
		t.Errorf("30 large Adds took %v: they did not wait for the slow calls", elapsed)
	}
	if c := p.Committed(); c.Offset != 30 {
		t.Errorf("committed %+v", c)
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(context.Background(), Options{}); err == nil {
		t.Error("no destination accepted")
	}
	_, fh, _ := firehoseEnv(t)
	if _, err := New(context.Background(), Options{Firehose: fh, DeliveryStream: "x", Aggregate: true}); err == nil {
		t.Error("aggregation to Firehose accepted")
	}
	s, err := New(context.Background(), Options{Firehose: fh, DeliveryStream: "x", MaxRecords: 9999, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSender(t, s)
	if s.o.MaxRecords != MaxCallRecords || s.o.MaxBytes != FirehoseMaxCallBytes || s.MaxRecordBytes() != FirehoseMaxRecordBytes-1 {
		t.Errorf("limits not clamped: %+v", s.o)
	}
	err = s.Add(context.Background(), nil, make([]byte, FirehoseMaxRecordBytes), state.Ticket{}, time.Now())
	if err == nil || !strings.Contains(err.Error(), "over the") {
		t.Errorf("oversized record: %v", err)
	}
}

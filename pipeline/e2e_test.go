package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// stack is one test's resources on the local stack: a fresh stream, lease
// table and delivery stream, so tests never see each other's data.
type stack struct {
	env      *testenv.Env
	name     string
	stream   string
	delivery string
	deadFile string
}

func newStack(t *testing.T, shards int32) *stack {
	t.Helper()
	env := testenv.Load(t)
	s := &stack{env: env, name: testenv.UniqueName(t, "p")}
	s.stream = s.name + "-in"
	s.delivery = s.name + "-out"
	s.deadFile = filepath.Join(t.TempDir(), "dead.ndjson")
	testenv.CreateStream(t, env.Kinesis(t), s.stream, shards)
	fh := env.Firehose(t)
	ctx := context.Background()
	if err := delivered.CreateDeliveryStream(ctx, fh, s.delivery, env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(s.delivery)})
	})
	return s
}

// yaml renders the test pipeline's config: store is the lease store,
// sourceExtra lines go under source:, extra lines at the top level.
func (s *stack) yaml(store, sourceExtra string, extra ...string) string {
	redisConf := fmt.Sprintf(`{url: "%s", key_prefix: "sf-%s"}`, s.env.RedisURL, s.name)
	if store == "redis-cluster" { // the Redis lease store on the local Redis Cluster
		redisConf = fmt.Sprintf(`{cluster_addrs: ["%s"], key_prefix: "sf-%s"}`,
			strings.Join(s.env.RedisClusterAddrs(), `", "`), s.name)
		store = "redis"
	}
	return fmt.Sprintf(`
name: %s
aws:
  region: %s
  endpoints: {kinesis: %s, dynamodb: %s, firehose: %s, s3: %s}
redis: %s
source:
  stream: %s
  checkpoints: {type: %s}
  lease_duration: 4s
  shard_sync_interval: 250ms
  idle_time_between_reads: 200ms
  checkpoint_interval: 200ms
  %s
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64}
  - {name: user_agent, type: string}
outputs:
  - name: s3
    firehose: {delivery_stream: %s, linger: 100ms}
dead_letter:
  file: %s
shutdown_timeout: 15s
ops: {listen: "127.0.0.1:0"}
%s
`, s.name, s.env.Region, s.env.KinesisEndpoint, s.env.DynamoDBEndpoint, s.env.FirehoseEndpoint, s.env.S3Endpoint,
		redisConf, s.stream, store, sourceExtra, s.delivery, s.deadFile, strings.Join(extra, "\n"))
}

// config parses the test pipeline's config with the Redis lease store.
func (s *stack) config(t *testing.T) *pipeline.Config {
	t.Helper()
	cfg, err := pipeline.Parse([]byte(s.yaml("redis", "")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// runPipeline starts a pipeline and returns a stop function that drains it
// (as SIGTERM would) and returns its counters. The drain must succeed unless
// wantDrainErr, in which case it must fail.
func runPipeline(t *testing.T, cfg *pipeline.Config, worker string, wantDrainErr ...bool) (*pipeline.Pipeline, func() pipeline.Counters) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		cancel()
		t.Fatalf("pipeline.Plan: %v", err)
	}
	p, err := pipeline.New(ctx, plan, pipeline.Options{Logger: log, WorkerID: worker})
	if err != nil {
		cancel()
		t.Fatalf("pipeline.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() pipeline.Counters {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err := <-done:
				switch wantErr := len(wantDrainErr) > 0 && wantDrainErr[0]; {
				case wantErr && err == nil:
					t.Errorf("pipeline drain succeeded; want the failed output's error")
				case !wantErr && err != nil:
					t.Errorf("pipeline drain: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("pipeline did not stop within 30s of cancel")
			}
		}
		return p.Counters()
	}
	t.Cleanup(func() { stop() })
	return p, stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitDelivered polls S3 until want distinct ids arrived (or the timeout)
// and returns what is there.
func (s *stack) waitDelivered(t *testing.T, want int, timeout time.Duration) *delivered.Result {
	t.Helper()
	s3c := s.env.S3(t)
	deadline := time.Now().Add(timeout)
	for {
		res, err := delivered.Collect(context.Background(), s3c, s.env.S3Bucket, s.delivery+"/", "event_id", 0)
		switch {
		case err != nil && time.Now().After(deadline):
			t.Fatal(err)
		case err != nil:
			// A listing can fail while objects are being written (seen
			// once as NoSuchBucket from the local S3); poll again.
			t.Logf("poll S3: %v", err)
		case len(res.IDs) >= want || time.Now().After(deadline):
			return res
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkExactlyOnce fails unless every expected id arrived exactly once and
// nothing else arrived.
func checkExactlyOnce(t *testing.T, res *delivered.Result, want map[string]bool) {
	t.Helper()
	missing := 0
	for id := range want {
		if res.IDs[id] == 0 {
			missing++
		}
	}
	extra := 0
	for id := range res.IDs {
		if !want[id] {
			extra++
		}
	}
	t.Logf("delivered: %d objects, %d rows, %d distinct, %d duplicates, %d missing, %d unexpected, %d unreadable",
		len(res.Objects), res.Rows, len(res.IDs), res.Duplicates(), missing, extra, res.BadLines)
	if missing != 0 || extra != 0 || res.Duplicates() != 0 || res.BadLines != 0 || res.Rows != len(want) {
		t.Fatalf("want exactly %d rows, one per id; got %d rows: %d missing, %d unexpected, %d duplicates, %d unreadable",
			len(want), res.Rows, missing, extra, res.Duplicates(), res.BadLines)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var env struct {
			Reason    string `json:"reason"`
			Shard     string `json:"shard"`
			Sequence  string `json:"sequence"`
			RawBase64 string `json:"raw_base64"`
		}
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("dead-letter line %d is not an envelope: %v", n+1, err)
		}
		if env.Reason == "" || env.Shard == "" || env.Sequence == "" || env.RawBase64 == "" {
			t.Fatalf("dead-letter line %d lacks reason/shard/sequence/raw: %s", n+1, sc.Text())
		}
		n++
	}
	return n
}

// TestPipelineDeliversEveryEventOnce puts N events (and a few malformed
// records) with the aws-sdk-go-v2 Kinesis client, runs the pipeline, and
// counts every event in the S3 objects firehose-local wrote. A second
// pipeline started after the first drained must find nothing left to deliver:
// the checkpoints covered everything that was acked.
func TestPipelineDeliversEveryEventOnce(t *testing.T) {
	const events, malformed = 3000, 7
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 42, Total: events})
	sum, err := produce.Put(context.Background(), s.env.Kinesis(t), gen, produce.Options{
		Stream: s.stream, Count: events + malformed, Malformed: malformed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Events != events || sum.Malformed != malformed {
		t.Fatalf("put %d events and %d malformed, want %d and %d", sum.Events, sum.Malformed, events, malformed)
	}
	want := map[string]bool{}
	replay := workload.New(workload.Config{Seed: 42, Total: events})
	for range events {
		e := replay.Next()
		want[e.ID()] = true
	}

	cfg := s.config(t)
	p1, stop := runPipeline(t, cfg, "w1")
	res := s.waitDelivered(t, events, 90*time.Second)
	// The ops endpoint counts what happened, while the pipeline runs.
	addr := p1.OpsAddr()
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d while running, want 200", code)
	}
	waitFor(t, "metrics to count every record", 10*time.Second, func() bool {
		return scrape(t, addr, "shardflow_records_acked_total", "") == events+malformed
	})
	if n := scrape(t, addr, "shardflow_records_read_total", ""); n != events+malformed {
		t.Errorf("shardflow_records_read_total = %v, want %d", n, events+malformed)
	}
	if n := scrape(t, addr, "shardflow_dead_letter_rows_total", `reason="invalid_json"`); n != malformed {
		t.Errorf("dead_letter_rows_total{reason=invalid_json} = %v, want %d", n, malformed)
	}
	if n := scrape(t, addr, "shardflow_output_rows_total", `output="s3"`); n != events {
		t.Errorf("output_rows_total{output=s3} = %v, want %d", n, events)
	}
	if n := scrape(t, addr, "shardflow_leases_held", ""); n != 2 {
		t.Errorf("leases_held = %v, want 2", n)
	}
	c := stop()
	checkExactlyOnce(t, res, want)
	if c.RecordsIn != events+malformed || c.RowsOut != events || c.DeadLetters != malformed {
		t.Fatalf("counters: in %d, rows %d, dead %d; want %d, %d, %d", c.RecordsIn, c.RowsOut, c.DeadLetters, events+malformed, events, malformed)
	}
	if n := countLines(t, s.deadFile); n != malformed {
		t.Fatalf("dead-letter file has %d entries, want %d", n, malformed)
	}
	fs := c.Firehose[0]
	t.Logf("firehose: %d rows in %d records over %d calls, billed %d bytes for %d", fs.Rows, fs.Records, fs.Calls, fs.BilledBytes, fs.RowBytes)
	if fs.Records >= fs.Rows/10 {
		t.Fatalf("rows were not packed: %d rows in %d Firehose records", fs.Rows, fs.Records)
	}

	// Restart: everything was checkpointed, so nothing is read again.
	p2, stop2 := runPipeline(t, cfg, "w2")
	deadline := time.Now().Add(30 * time.Second)
	for len(p2.OwnedShards()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("restarted worker holds %d of 2 leases after 30s", len(p2.OwnedShards()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // several reads at idle_time_between_reads 200ms
	c2 := stop2()
	if c2.RecordsIn != 0 {
		t.Fatalf("restarted pipeline re-read %d records: the first run's checkpoints did not cover its acked records", c2.RecordsIn)
	}
	checkExactlyOnce(t, s.waitDelivered(t, events, time.Second), want)
}

// TestPipelineDeliversRecordsPutByAWSCLI puts records with an independent
// client, the AWS CLI (`aws kinesis put-records`), and checks each arrives.
func TestPipelineDeliversRecordsPutByAWSCLI(t *testing.T) {
	const events = 250
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 7, Total: events})
	want := map[string]bool{}
	type entry struct {
		Data         string `json:"Data"`
		PartitionKey string `json:"PartitionKey"`
	}
	entries := make([]entry, 0, events)
	for range events {
		e := gen.Next()
		want[e.ID()] = true
		entries = append(entries, entry{Data: string(e.AppendJSON(nil)), PartitionKey: e.ID()})
	}
	file := filepath.Join(t.TempDir(), "records.json")
	raw, _ := json.Marshal(entries)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/aws", "--endpoint-url", s.env.KinesisEndpoint, "--region", s.env.Region,
		"--cli-binary-format", "raw-in-base64-out", "--output", "json",
		"kinesis", "put-records", "--stream-name", s.stream, "--records", "file://"+file)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_PAGER=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws kinesis put-records: %v\n%s", err, out)
	}
	var resp struct{ FailedRecordCount int }
	if err := json.Unmarshal(out, &resp); err != nil || resp.FailedRecordCount != 0 {
		t.Fatalf("aws kinesis put-records: failed=%d err=%v\n%s", resp.FailedRecordCount, err, out)
	}
	_, stop := runPipeline(t, s.config(t), "cli")
	res := s.waitDelivered(t, events, 60*time.Second)
	stop()
	checkExactlyOnce(t, res, want)
}

// setFaults asks the stack's firehose-local to fail calls for a stream.
func (s *stack) setFaults(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(s.env.FirehoseEndpoint+"/_local/faults?stream="+s.delivery, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("set faults: %s: %s", resp.Status, msg)
	}
}

// TestCheckpointNeverPassesUndeliveredRecords: while Firehose fails every
// call, the output gives up, the pipeline turns unhealthy and no checkpoint
// moves. After the fault clears, a new worker delivers every event exactly
// once — none was skipped by a checkpoint taken before its delivery.
func TestCheckpointNeverPassesUndeliveredRecords(t *testing.T) {
	const events = 1000
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 99, Total: events})
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), gen, produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	replay := workload.New(workload.Config{Seed: 99, Total: events})
	for range events {
		e := replay.Next()
		want[e.ID()] = true
	}
	s.setFaults(t, `{"fail_call_fraction": 1}`)
	cfg := s.config(t)
	cfg.Outputs[0].Firehose.RetryTimeout = pipeline.Duration(time.Second)
	p1, stop1 := runPipeline(t, cfg, "failing", true)
	deadline := time.Now().Add(30 * time.Second)
	for p1.Healthy() == nil {
		if time.Now().After(deadline) {
			t.Fatal("pipeline still healthy 30s after every Firehose call started failing")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("unhealthy as expected: %v", p1.Healthy())
	waitFor(t, "/readyz to report the failed output", 5*time.Second, func() bool {
		return httpStatus(t, "http://"+p1.OpsAddr()+"/readyz") == http.StatusServiceUnavailable
	})
	began := time.Now()
	c1 := stop1()
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("drain of a pipeline with a failed output took %s; it must not wait out the whole budget", d)
	}
	if c1.RecordsIn == 0 {
		t.Fatal("first worker read nothing; the test proves nothing")
	}
	if res := s.waitDelivered(t, 1, time.Second); res.Rows != 0 {
		t.Fatalf("%d rows reached S3 while every call failed", res.Rows)
	}

	s.setFaults(t, `{}`)
	_, stop2 := runPipeline(t, s.config(t), "recovered")
	res := s.waitDelivered(t, events, 60*time.Second)
	stop2()
	checkExactlyOnce(t, res, want)
}

// TestCorruptKPLAggregateGoesToDeadLetter puts KPL aggregates of events, one
// corrupt aggregate (valid magic and MD5, broken protobuf) and plain events
// into the same shards: every good event arrives once, the corrupt aggregate
// is the only dead letter, with its original bytes. The KCL alone would drop
// the whole GetRecords batch around it.
func TestCorruptKPLAggregateGoesToDeadLetter(t *testing.T) {
	const aggregates, perAggregate, plain = 20, 25, 50
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 3, Total: aggregates*perAggregate + plain})
	want := map[string]bool{}
	var entries []kintypes.PutRecordsRequestEntry
	for a := range aggregates {
		var recs [][]byte
		for range perAggregate {
			e := gen.Next()
			want[e.ID()] = true
			recs = append(recs, e.AppendJSON(nil))
		}
		pk := fmt.Sprintf("agg-%d", a)
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: kpl.Aggregate(pk, recs), PartitionKey: aws.String(pk)})
		if a == aggregates/2 {
			// Valid magic and MD5 around a body whose first field is cut short.
			body := []byte{0x0a, 0x10, 'x'}
			sum := md5.Sum(body)
			corrupt := append(append([]byte(kpl.Magic), body...), sum[:]...)
			entries = append(entries, kintypes.PutRecordsRequestEntry{Data: corrupt, PartitionKey: aws.String("agg-bad")})
		}
	}
	for range plain {
		e := gen.Next()
		want[e.ID()] = true
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: e.AppendJSON(nil), PartitionKey: aws.String(e.ID())})
	}
	out, err := s.env.Kinesis(t).PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put: %v (failed %d)", err, aws.ToInt32(out.FailedRecordCount))
	}
	_, stop := runPipeline(t, s.config(t), "kpl")
	res := s.waitDelivered(t, len(want), 60*time.Second)
	c := stop()
	checkExactlyOnce(t, res, want)
	if c.DeadLetters != 1 {
		t.Fatalf("%d dead letters, want exactly the corrupt aggregate", c.DeadLetters)
	}
	data, err := os.ReadFile(s.deadFile)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Reason    string `json:"reason"`
		RawBase64 string `json:"raw_base64"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("dead-letter file: %v\n%s", err, data)
	}
	raw, _ := base64.StdEncoding.DecodeString(env.RawBase64)
	if !strings.HasPrefix(env.Reason, "corrupt_kpl_aggregate") || !bytes.Equal(raw, entries[aggregates/2+1].Data) {
		t.Fatalf("dead letter reason %q, raw %x; want corrupt_kpl_aggregate with the original bytes", env.Reason, raw)
	}
}

// TestPipelineExactlyOnceUnderFirehoseFaults: firehose-local throttles 20% of
// records and fails 5% of calls; every event still arrives exactly once:
// only failed records are resent, by index.
func TestPipelineExactlyOnceUnderFirehoseFaults(t *testing.T) {
	const events = 5000
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 77, Total: events})
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), gen, produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	replay := workload.New(workload.Config{Seed: 77, Total: events})
	for range events {
		e := replay.Next()
		want[e.ID()] = true
	}
	s.setFaults(t, `{"throttle_fraction": 0.2, "fail_call_fraction": 0.05, "seed": 9}`)
	cfg := s.config(t)
	// Small records: many calls, so the faults bite often.
	cfg.Source.MaxRecords = 100
	// Linger 0: every read batch goes out as its own call, so there are
	// dozens of calls and the injected faults bite.
	cfg.Outputs[0].Firehose.Linger = 0
	_, stop := runPipeline(t, cfg, "chaos")
	res := s.waitDelivered(t, events, 90*time.Second)
	c := stop()
	checkExactlyOnce(t, res, want)
	f := c.Firehose[0]
	t.Logf("firehose under faults: %d calls, %d retries, %d records failed and resent", f.Calls, f.Retries, f.FailedRecords)
	if f.FailedRecords == 0 || f.Retries == 0 {
		t.Fatalf("no faults were seen (%+v): the test proves nothing", f)
	}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// scrape sums a metric's samples from /metrics, over the series whose label
// set contains match ("" for all).
func scrape(t *testing.T, addr, metric, match string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		if match != "" && !strings.Contains(line, match) {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// TestDeadLetterToFirehose: with dead_letter.firehose, each malformed record
// arrives once as an envelope in the dead-letter stream's S3 objects.
func TestDeadLetterToFirehose(t *testing.T) {
	const events, malformed = 500, 9
	s := newStack(t, 2)
	ctx := context.Background()
	dlStream := s.delivery + "-dl"
	fh := s.env.Firehose(t)
	if err := delivered.CreateDeliveryStream(ctx, fh, dlStream, s.env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(dlStream)})
	})
	if _, err := produce.Put(ctx, s.env.Kinesis(t), workload.New(workload.Config{Seed: 2, Total: events}),
		produce.Options{Stream: s.stream, Count: events + malformed, Malformed: malformed}); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t)
	cfg.DeadLetter = pipeline.DeadLetterConfig{Firehose: &pipeline.DeadLetterFirehose{DeliveryStream: dlStream}}
	_, stop := runPipeline(t, cfg, "dl")
	s.waitDelivered(t, events, 60*time.Second)
	var res *delivered.Result
	waitFor(t, "dead letters in S3", 30*time.Second, func() bool {
		var err error
		res, err = delivered.Collect(ctx, s.env.S3(t), s.env.S3Bucket, dlStream+"/", "sequence", 0)
		return err == nil && len(res.IDs) >= malformed
	})
	c := stop()
	if res.Rows != malformed || len(res.IDs) != malformed || c.DeadLetters != malformed {
		t.Fatalf("dead-letter stream has %d envelopes (%d distinct sequences), counters %d; want %d", res.Rows, len(res.IDs), c.DeadLetters, malformed)
	}
}

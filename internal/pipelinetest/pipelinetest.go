package pipelinetest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// Stack is one test's resources: a unique name, a stream of that name.
type Stack struct {
	Env    *testenv.Env
	Name   string // unique; use it for the pipeline name, keys and prefixes
	Stream string
}

// New creates a stream of shards shards named after the test.
func New(t testing.TB, shards int32) *Stack {
	t.Helper()
	env := testenv.Load(t)
	s := &Stack{Env: env, Name: testenv.UniqueName(t, "ex")}
	if len(s.Name) > 40 { // leave room for suffixes in 64-character names
		s.Name = s.Name[:31] + s.Name[len(s.Name)-9:]
	}
	s.Stream = s.Name + "-in"
	testenv.CreateStream(t, env.Kinesis(t), s.Stream, shards)
	return s
}

// Delivery creates a Firehose delivery stream to S3 (prefix "<name>/",
// 1 s buffering) named s.Name + "-" + suffix, removed at cleanup.
func (s *Stack) Delivery(t testing.TB, suffix string) string {
	t.Helper()
	name := s.Name + "-" + suffix
	fh := s.Env.Firehose(t)
	if err := delivered.CreateDeliveryStream(context.Background(), fh, name, s.Env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
	})
	return name
}

// Lookup resolves a config's ${VAR}s to the local stack's endpoints (the
// variables examples/*.yaml use), then to extra, then to nothing.
func (s *Stack) Lookup(extra map[string]string) func(string) (string, bool) {
	vars := map[string]string{
		"AWS_REGION":                  s.Env.Region,
		"SHARDFLOW_KINESIS_ENDPOINT":  s.Env.KinesisEndpoint,
		"SHARDFLOW_DYNAMODB_ENDPOINT": s.Env.DynamoDBEndpoint,
		"SHARDFLOW_FIREHOSE_ENDPOINT": s.Env.FirehoseEndpoint,
		"SHARDFLOW_S3_ENDPOINT":       s.Env.S3Endpoint,
		"SHARDFLOW_S3_BUCKET":         s.Env.S3Bucket,
		"SHARDFLOW_REDIS_URL":         s.Env.RedisURL,
	}
	for k, v := range extra {
		vars[k] = v
	}
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// Running is a pipeline run by Run.
type Running struct {
	P    *pipeline.Pipeline
	stop func() pipeline.Counters
}

// Stop drains the pipeline (as SIGTERM) and returns its counters; the
// drain must succeed. Calling it again returns the same counters.
func (r *Running) Stop() pipeline.Counters { return r.stop() }

// Run starts cfg's pipeline as worker; it is stopped at cleanup if the
// test did not.
func Run(t testing.TB, cfg *pipeline.Config, worker string) *Running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		t.Fatalf("pipeline.Plan: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, plan, pipeline.Options{Logger: log, WorkerID: worker})
	if err != nil {
		cancel()
		t.Fatalf("pipeline.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var counters *pipeline.Counters
	stop := func() pipeline.Counters {
		if counters == nil {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("pipeline drain: %v", err)
				}
			case <-time.After(40 * time.Second):
				t.Fatal("pipeline did not stop within 40s of cancel")
			}
			c := p.Counters()
			counters = &c
		}
		return *counters
	}
	t.Cleanup(func() { stop() })
	return &Running{P: p, stop: stop}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// WaitFor polls cond every 100 ms until it holds, failing the test after
// timeout.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Collect reads the NDJSON rows under prefix in the stack's bucket,
// counted by idField.
func (s *Stack) Collect(t testing.TB, prefix, idField string) *delivered.Result {
	t.Helper()
	res, err := delivered.Collect(context.Background(), s.Env.S3(t), s.Env.S3Bucket, prefix, idField, 3)
	if err != nil {
		// A listing can fail while objects are written; the caller polls.
		t.Logf("collect s3://%s/%s: %v", s.Env.S3Bucket, prefix, err)
		return &delivered.Result{IDs: map[string]int{}}
	}
	return res
}

// WaitRows polls until the rows under prefix reach want (counting every
// row, duplicates included), and returns them.
func (s *Stack) WaitRows(t testing.TB, prefix, idField string, want int, timeout time.Duration) *delivered.Result {
	t.Helper()
	var res *delivered.Result
	WaitFor(t, fmt.Sprintf("%d rows under s3://%s/%s", want, s.Env.S3Bucket, prefix), timeout, func() bool {
		res = s.Collect(t, prefix, idField)
		return res.Rows >= want
	})
	return res
}

// Scrape sums a metric's samples on a running pipeline's /metrics over the
// series whose labels contain match ("" for all).
func Scrape(t testing.TB, p *pipeline.Pipeline, metric, match string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.OpsAddr() + "/metrics")
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

// WaitLeases waits until the pipeline holds n leases.
func WaitLeases(t testing.TB, r *Running, n int, timeout time.Duration) {
	t.Helper()
	WaitFor(t, fmt.Sprintf("%d leases held", n), timeout, func() bool { return len(r.P.OwnedShards()) >= n })
}

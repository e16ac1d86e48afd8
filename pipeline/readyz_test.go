package pipeline_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/opsserver"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

// proxiedConfig is the stack's config with Redis and Firehose reached
// through TCP proxies the test can stop and start again: the shared
// services stay up for every other test.
func proxiedConfig(t *testing.T, s *stack) (cfg *pipeline.Config, redisProxy, firehoseProxy *testenv.TCPProxy) {
	t.Helper()
	cfg = s.config(t)
	ru, err := url.Parse(s.env.RedisURL)
	if err != nil {
		t.Fatalf("SHARDFLOW_REDIS_URL: %v", err)
	}
	redisProxy = testenv.NewTCPProxy(t, ru.Host)
	ru.Host = redisProxy.Addr()
	cfg.Redis.URL = ru.String()

	fu, err := url.Parse(s.env.FirehoseEndpoint)
	if err != nil {
		t.Fatalf("SHARDFLOW_FIREHOSE_ENDPOINT: %v", err)
	}
	firehoseProxy = testenv.NewTCPProxy(t, fu.Host)
	fu.Host = firehoseProxy.Addr()
	cfg.AWS.Endpoints.Firehose = fu.String()
	// Renewals every 10 s: a Redis outage of a few seconds is seen by
	// /readyz, not necessarily by the lease.
	cfg.Source.LeaseDuration = pipeline.Duration(30 * time.Second)
	return cfg, redisProxy, firehoseProxy
}

// httpGet fetches url and returns its status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// readiness fetches /readyz and decodes its report.
func readiness(t *testing.T, addr string) (int, opsserver.Report) {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/readyz")
	var rep opsserver.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("GET /readyz: %s: %v", body, err)
	}
	return code, rep
}

// awaitReadyz waits until /readyz answers code and returns its report.
func awaitReadyz(t *testing.T, addr string, code int, what string) opsserver.Report {
	t.Helper()
	var rep opsserver.Report
	took := waitFor(t, what, 20*time.Second, func() bool {
		var got int
		got, rep = readiness(t, addr)
		return got == code
	})
	t.Logf("%s after %s", what, took.Round(10*time.Millisecond))
	return rep
}

// failing returns the names of rep's failing checks.
func failing(rep opsserver.Report) map[string]string {
	f := map[string]string{}
	for _, c := range rep.Checks {
		if c.Status != "ok" {
			f[c.Name] = c.Error
		}
	}
	return f
}

func putEvents(t *testing.T, s *stack, seed uint64, n int) map[string]bool {
	t.Helper()
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), workload.New(workload.Config{Seed: seed, Total: n}),
		produce.Options{Stream: s.stream, Count: n}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	replay := workload.New(workload.Config{Seed: seed, Total: n})
	for range n {
		e := replay.Next()
		ids[e.ID()] = true
	}
	return ids
}

// TestReadyzFollowsRedisAndFirehose: /readyz of a running pipeline turns
// 503 naming the check when Redis goes away and 200 when it is back; the
// same for the (overridden) Firehose endpoint, while the output is still
// within its retry_timeout, and what was put during the outage is delivered
// once it is back.
func TestReadyzFollowsRedisAndFirehose(t *testing.T) {
	s := newStack(t, 1)
	want := putEvents(t, s, 3, 200)
	cfg, redisProxy, firehoseProxy := proxiedConfig(t, s)
	cfg.Outputs[0].Firehose.RetryTimeout = pipeline.Duration(time.Minute)
	p, stop := runPipeline(t, cfg, "readyz")
	waitFor(t, "the first events read", 60*time.Second, func() bool { return p.Counters().RecordsIn > 0 })
	addr := p.OpsAddr()
	rep := awaitReadyz(t, addr, http.StatusOK, "ready with everything up")
	names := map[string]bool{}
	for _, c := range rep.Checks {
		names[c.Name] = true
	}
	for _, n := range []string{"draining", "outputs", "redis", "firehose_endpoint"} {
		if !names[n] {
			t.Errorf("/readyz has no %q check: %+v", n, rep.Checks)
		}
	}

	// Redis goes away: unready, and only the redis check says so.
	redisProxy.Stop()
	rep = awaitReadyz(t, addr, http.StatusServiceUnavailable, "unready without Redis")
	if f := failing(rep); len(f) != 1 || f["redis"] == "" {
		t.Errorf("failing checks without Redis: %v, want redis only", f)
	}
	redisProxy.Start()
	awaitReadyz(t, addr, http.StatusOK, "ready again with Redis back")

	// Firehose goes away while events arrive: unready on the endpoint
	// check; the output is retrying, not given up, so outputs stays ok.
	firehoseProxy.Stop()
	rep = awaitReadyz(t, addr, http.StatusServiceUnavailable, "unready without Firehose")
	if f := failing(rep); len(f) != 1 || f["firehose_endpoint"] == "" {
		t.Errorf("failing checks without Firehose: %v, want firehose_endpoint only", f)
	}
	for id := range putEvents(t, s, 4, 300) {
		want[id] = true
	}
	waitFor(t, "events read during the outage", 30*time.Second, func() bool { return p.Counters().RecordsIn >= int64(len(want)) })
	if code, rep := readiness(t, addr); code != http.StatusServiceUnavailable || failing(rep)["outputs"] != "" {
		t.Errorf("during the outage /readyz = %d, failing %v; want 503 with outputs still ok", code, failing(rep))
	}
	firehoseProxy.Start()
	awaitReadyz(t, addr, http.StatusOK, "ready again with Firehose back")

	// Nothing was lost: every event arrives (a call cut mid-way may have
	// been resent, so duplicates are allowed here).
	res := s.waitDelivered(t, len(want), 60*time.Second)
	missing := 0
	for id := range want {
		if res.IDs[id] == 0 {
			missing++
		}
	}
	if missing != 0 {
		t.Fatalf("%d of %d events never reached S3 after the outages", missing, len(want))
	}
	if c := stop(); c.RecordsIn < int64(len(want)) {
		t.Errorf("pipeline read %d records, want at least %d", c.RecordsIn, len(want))
	}
}

// TestReadyzStaysUnreadyAfterOutputGaveUp: when Firehose stays away past
// the output's retry_timeout, the output gives up (its shards stop
// checkpointing and reading) and /readyz reports "outputs" failing; it stays
// 503 after Firehose returns, because the process must be restarted to
// replay what was not delivered.
func TestReadyzStaysUnreadyAfterOutputGaveUp(t *testing.T) {
	s := newStack(t, 1)
	cfg, _, firehoseProxy := proxiedConfig(t, s)
	cfg.Outputs[0].Firehose.RetryTimeout = pipeline.Duration(2 * time.Second)
	p, stop := runPipeline(t, cfg, "gave-up", true)
	waitFor(t, "the ops endpoint", 30*time.Second, func() bool { return p.OpsAddr() != "" })
	if code, body := httpGet(t, "http://"+p.OpsAddr()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz at start = %d %q", code, body)
	}
	firehoseProxy.Stop()
	putEvents(t, s, 5, 100)
	waitFor(t, "events read", 60*time.Second, func() bool { return p.Counters().RecordsIn > 0 })
	addr := p.OpsAddr()
	var rep opsserver.Report
	waitFor(t, "the outputs check to fail", 30*time.Second, func() bool {
		_, rep = readiness(t, addr)
		return failing(rep)["outputs"] != ""
	})
	if f := failing(rep); f["firehose_endpoint"] == "" {
		t.Errorf("failing checks %v, want firehose_endpoint too", f)
	}
	firehoseProxy.Start()
	rep = awaitReadyz(t, addr, http.StatusServiceUnavailable, "still unready with Firehose back")
	waitFor(t, "the endpoint check to pass again", 20*time.Second, func() bool {
		_, rep = readiness(t, addr)
		return failing(rep)["firehose_endpoint"] == ""
	})
	if f := failing(rep); len(f) != 1 || f["outputs"] == "" {
		t.Errorf("failing checks with Firehose back: %v, want outputs only (given up until restart)", f)
	}
	// Liveness follows: the task is stuck until restarted, so /healthz
	// fails and ECS's container health check replaces it.
	code, body := httpGet(t, "http://"+addr+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "outputs: ") {
		t.Errorf("/healthz after an output gave up = %d %q, want 503 naming outputs", code, body)
	}
	stop()
}

// TestReadyzFollowsTheSource: a running pipeline whose Kinesis endpoint goes
// away turns unready after source.health_grace, naming the source (and only
// the source), while /healthz stays 200 (a restart does not bring Kinesis
// back); it is ready again when Kinesis is, and what was put meanwhile is
// delivered.
func TestReadyzFollowsTheSource(t *testing.T) {
	s := newStack(t, 2)
	want := putEvents(t, s, 6, 200)
	cfg := s.config(t)
	ku, err := url.Parse(s.env.KinesisEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	kinesisProxy := testenv.NewTCPProxy(t, ku.Host)
	ku.Host = kinesisProxy.Addr()
	cfg.AWS.Endpoints.Kinesis = ku.String()
	cfg.Source.HealthGrace = pipeline.Duration(time.Second)
	p, stop := runPipeline(t, cfg, "source")
	waitFor(t, "the first events read", 60*time.Second, func() bool { return p.Counters().RecordsIn > 0 })
	addr := p.OpsAddr()
	rep := awaitReadyz(t, addr, http.StatusOK, "ready with Kinesis up")
	if _, ok := failing(rep)["source"]; ok || !hasCheck(rep, "source") {
		t.Fatalf("no passing source check: %+v", rep.Checks)
	}

	kinesisProxy.Stop()
	rep = awaitReadyz(t, addr, http.StatusServiceUnavailable, "unready without Kinesis")
	f := failing(rep)
	if len(f) != 1 || !strings.Contains(f["source"], s.stream) {
		t.Errorf("failing checks without Kinesis: %v, want source only, naming stream %s", f, s.stream)
	}
	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d without Kinesis (%s), want 200: a restart does not fix the source", code, body)
	}
	if n := scrape(t, addr, "shardflow_source_errors_total", ""); n == 0 {
		t.Error("no source error counted during the outage")
	}
	for id := range putEventsDirect(t, s, 7, 200) {
		want[id] = true
	}
	kinesisProxy.Start()
	awaitReadyz(t, addr, http.StatusOK, "ready again with Kinesis back")
	res := s.waitDelivered(t, len(want), 60*time.Second)
	for id := range want {
		if res.IDs[id] == 0 {
			t.Fatalf("event %s never delivered after the outage", id)
		}
	}
	stop()
}

// TestReadyzOfARunProcessFollowsTheSource: `shardflow run` started against
// a Kinesis endpoint that refuses connections answers /readyz 503 naming the
// source within 60 s, and 200 once the endpoint answers; started on a
// stream that does not exist, 503 naming the stream and ResourceNotFound
// (counted by error code) until the stream is created, then 200. /healthz
// stays 200 throughout: a restart fixes neither.
func TestReadyzOfARunProcessFollowsTheSource(t *testing.T) {
	s := newStack(t, 1)
	shardflowBinary(t)
	opsAddr := func(w *worker) string {
		waitFor(t, "the ops endpoint's address", 30*time.Second, func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.opsAddr != ""
		})
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.opsAddr
	}
	t.Run("endpoint refuses connections", func(t *testing.T) {
		ku, err := url.Parse(s.env.KinesisEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		proxy := testenv.NewTCPProxy(t, ku.Host)
		proxy.Stop() // refuses connections from the start
		ku.Host = proxy.Addr()
		cfg := s.writeConfig(t, "redis", "health_grace: 2s")
		raw, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		from := "kinesis: " + s.env.KinesisEndpoint + ","
		if !strings.Contains(string(raw), from) {
			t.Fatalf("config lacks %q", from)
		}
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), from, "kinesis: "+ku.String()+",", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		w := startWorker(t, cfg, "refused")
		addr := opsAddr(w)
		rep := awaitReadyzWithin(t, addr, http.StatusServiceUnavailable, "unready while Kinesis refuses", 60*time.Second)
		if f := failing(rep)["source"]; !strings.Contains(f, s.stream) {
			t.Errorf("source check %q does not name stream %s (failing: %v)", f, s.stream, failing(rep))
		}
		if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz = %d, want 200", code)
		}
		proxy.Start()
		awaitReadyzWithin(t, addr, http.StatusOK, "ready once Kinesis answers", 60*time.Second)
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		<-w.exited
	})
	t.Run("stream does not exist", func(t *testing.T) {
		missing := s.stream + "-later"
		cfg := s.writeConfig(t, "redis", "health_grace: 2s")
		raw, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), "stream: "+s.stream+"\n", "stream: "+missing+"\n", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		w := startWorker(t, cfg, "nostream")
		addr := opsAddr(w)
		rep := awaitReadyzWithin(t, addr, http.StatusServiceUnavailable, "unready on a missing stream", 60*time.Second)
		if msg := failing(rep)["source"]; !strings.Contains(msg, missing) || !strings.Contains(msg, "ResourceNotFound") {
			t.Errorf("source check = %q, want the stream %s and ResourceNotFound", msg, missing)
		}
		if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz = %d, want 200", code)
		}
		if n := scrape(t, addr, "shardflow_source_errors_total", `code="ResourceNotFoundException"`); n == 0 {
			t.Error("no ResourceNotFoundException counted for ListShards")
		}
		testenv.CreateStream(t, s.env.Kinesis(t), missing, 1)
		awaitReadyzWithin(t, addr, http.StatusOK, "ready once the stream exists", 60*time.Second)
		waitFor(t, "the new stream's shard leased", 30*time.Second, func() bool { return len(w.shards()) == 1 })
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		<-w.exited
	})
}

// awaitReadyzWithin waits up to timeout until /readyz answers code.
func awaitReadyzWithin(t *testing.T, addr string, code int, what string, timeout time.Duration) opsserver.Report {
	t.Helper()
	var rep opsserver.Report
	took := waitFor(t, what, timeout, func() bool {
		var got int
		got, rep = readiness(t, addr)
		return got == code
	})
	t.Logf("%s after %s", what, took.Round(10*time.Millisecond))
	return rep
}

func hasCheck(rep opsserver.Report, name string) bool {
	for _, c := range rep.Checks {
		if c.Name == name {
			return true
		}
	}
	return false
}

// putEventsDirect puts events straight to kinesalite (not through a proxy
// the test stopped).
func putEventsDirect(t *testing.T, s *stack, seed uint64, n int) map[string]bool {
	return putEvents(t, s, seed, n)
}

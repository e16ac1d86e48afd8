package opsserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/metrics/prom"
)

// get fetches path from the server at base and decodes a /readyz body.
func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

func readyz(t *testing.T, base string) (int, Report) {
	t.Helper()
	code, body := get(t, base, "/readyz")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return code, rep
}

func checkStatus(rep Report, name string) (CheckResult, bool) {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return CheckResult{}, false
}

// testLogger writes to the test's output, shown when it fails or with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func start(t *testing.T, o Options) (*Server, string) {
	t.Helper()
	o.Logger = testLogger(t)
	s := New(o)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, "http://" + s.Addr()
}

// waitFor polls /readyz until it answers want (the cache TTL delays a
// change by up to CacheTTL).
func waitFor(t *testing.T, base string, want int) Report {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, rep := readyz(t, base)
		if code == want {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d, want %d; last report %+v", code, want, rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHealthzMetricsAndShutdown(t *testing.T) {
	m, err := prom.New(prom.Options{Pipeline: "clicks"})
	if err != nil {
		t.Fatal(err)
	}
	m.RecordsRead("shardId-000000000000", 12, 3456, 789)
	s := New(Options{Metrics: m.Handler(), Logger: testLogger(t)})
	if s.Addr() != "" {
		t.Errorf("Addr before Start = %q", s.Addr())
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr()

	if code, body := get(t, base, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base, "/metrics")
	if code != http.StatusOK || !strings.Contains(body, `shardflow_records_read_total{pipeline="clicks",shard="shardId-000000000000"} 12`) {
		t.Errorf("/metrics = %d, body lacks the records series:\n%s", code, body)
	}
	resp, err := http.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
	if code, _ := get(t, base, "/nothing"); code != http.StatusNotFound {
		t.Errorf("/nothing = %d, want 404", code)
	}
	if code, rep := readyz(t, base); code != http.StatusOK || !rep.Ready() || len(rep.Checks) != 0 {
		t.Errorf("/readyz without checks = %d %+v, want 200 ready", code, rep)
	}

	// The address is taken: a second server fails to start, with the cause.
	other := New(Options{Logger: testLogger(t)})
	if err := other.Start(s.Addr()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a used address: %v", err)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-s.serveDone:
	default:
		t.Error("serving goroutine still running after Shutdown")
	}
	c := &http.Client{Timeout: 2 * time.Second}
	if resp, err := c.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("server still answers after Shutdown")
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// closedAddr is a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestReadyzRedis(t *testing.T) {
	env := testenv.Load(t)
	rdb, _ := env.Redis(t)

	// The local Redis answers: ready.
	_, base := start(t, Options{Checks: []Check{RedisCheck(rdb)}})
	code, rep := readyz(t, base)
	if c, _ := checkStatus(rep, "redis"); code != http.StatusOK || c.Status != "ok" {
		t.Fatalf("/readyz with a live Redis = %d %+v", code, rep)
	}

	// A client pointed at a closed port: unready, and the body says why.
	dead := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	deadCheck := RedisCheck(dead)
	deadCheck.Name = "redis-dead"
	_, base = start(t, Options{Checks: []Check{RedisCheck(rdb), deadCheck}})
	code, rep = readyz(t, base)
	if code != http.StatusServiceUnavailable || rep.Ready() {
		t.Fatalf("/readyz with a dead Redis = %d %+v, want 503", code, rep)
	}
	if c, _ := checkStatus(rep, "redis"); c.Status != "ok" {
		t.Errorf("live redis check = %+v", c)
	}
	if c, _ := checkStatus(rep, "redis-dead"); c.Status != "failing" || !strings.Contains(c.Error, "connection refused") {
		t.Errorf("dead redis check = %+v, want failing with connection refused", c)
	}

	// The same Redis going away and coming back (through a proxy we stop
	// and restart on the same port): 200 → 503 → 200.
	opts, err := redis.ParseURL(env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewTCPProxy(t, opts.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DB: opts.DB, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { viaProxy.Close() })
	_, base = start(t, Options{Checks: []Check{RedisCheck(viaProxy)}, CheckTimeout: time.Second})
	waitFor(t, base, http.StatusOK)
	proxy.Stop()
	rep = waitFor(t, base, http.StatusServiceUnavailable)
	if c, _ := checkStatus(rep, "redis"); c.Status != "failing" || c.Error == "" {
		t.Errorf("redis check while stopped = %+v", c)
	}
	proxy.Start()
	waitFor(t, base, http.StatusOK)
}

func TestReadyzHTTPCheck(t *testing.T) {
	env := testenv.Load(t)
	var hits atomic.Int64
	health := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("ok"))
	})
	target := httptest.NewServer(health)
	addr := target.Listener.Addr().String()

	_, base := start(t, Options{Checks: []Check{
		HTTPCheck("firehose-local", env.FirehoseEndpoint+"/healthz"), // the real one
		HTTPCheck("target", target.URL+"/healthz"),
	}})
	code, rep := readyz(t, base)
	if code != http.StatusOK || !rep.Ready() {
		t.Fatalf("/readyz = %d %+v, want 200", code, rep)
	}
	if c, _ := checkStatus(rep, "firehose-local"); c.Status != "ok" {
		t.Errorf("firehose-local check = %+v", c)
	}

	// The target goes away: 503 with the target named failing, the rest ok.
	target.Close()
	rep = waitFor(t, base, http.StatusServiceUnavailable)
	if c, _ := checkStatus(rep, "target"); c.Status != "failing" || !strings.Contains(c.Error, "connection refused") {
		t.Errorf("target check = %+v", c)
	}
	if c, _ := checkStatus(rep, "firehose-local"); c.Status != "ok" {
		t.Errorf("firehose-local check = %+v", c)
	}

	// It comes back on the same address: 200 again.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", addr, err)
	}
	back := httptest.NewUnstartedServer(health)
	back.Listener.Close()
	back.Listener = ln
	back.Start()
	defer back.Close()
	waitFor(t, base, http.StatusOK)

	// A non-2xx answer fails too.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	err = HTTPCheck("bad", bad.URL).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("HTTPCheck on a 503 = %v", err)
	}
	if err := TCPCheck("tcp", strings.TrimPrefix(bad.URL, "http://")).Run(context.Background()); err != nil {
		t.Errorf("TCPCheck on a live server: %v", err)
	}
	if err := TCPCheck("tcp", closedAddr(t)).Run(context.Background()); err == nil {
		t.Error("TCPCheck on a closed port passed")
	}

	// EndpointCheck: the host and port of an endpoint URL.
	live, err := EndpointCheck("fh", bad.URL+"/some/path")
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Run(context.Background()); err != nil || live.Name != "fh" {
		t.Errorf("EndpointCheck on a live server: %v (name %q)", err, live.Name)
	}
	dead, err := EndpointCheck("fh", "http://"+closedAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("EndpointCheck on a closed port = %v, want connection refused", err)
	}
	if _, err := EndpointCheck("fh", "firehose.local:4573"); err == nil {
		t.Error("EndpointCheck accepted an endpoint without a scheme and host")
	}
}

// serve runs one /readyz request against the handler directly (for
// synctest bubbles, which cannot use real network I/O).
func serve(s *Server) (int, Report) {
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var rep Report
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	return w.Code, rep
}

func TestReadyzCachesAndSharesEvaluations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var runs atomic.Int64
		var failing atomic.Bool
		s := New(Options{Logger: testLogger(t), Checks: []Check{{Name: "slow", Run: func(ctx context.Context) error {
			runs.Add(1)
			time.Sleep(100 * time.Millisecond) // a round trip
			if failing.Load() {
				return errors.New("down")
			}
			return nil
		}}}})
		defer s.Shutdown(context.Background())

		// Ten concurrent polls while nothing is cached: one evaluation.
		var wg sync.WaitGroup
		codes := make([]int, 10)
		for i := range codes {
			wg.Go(func() { codes[i], _ = serve(s) })
		}
		wg.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("10 concurrent polls ran the check %d times, want 1", n)
		}
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("poll %d = %d", i, c)
			}
		}

		// Within the TTL the cached report answers, even though the state
		// changed.
		failing.Store(true)
		time.Sleep(500 * time.Millisecond)
		if code, _ := serve(s); code != http.StatusOK || runs.Load() != 1 {
			t.Errorf("poll within TTL = %d after %d runs, want cached 200 after 1", code, runs.Load())
		}
		// Past it, the checks run again and see the change.
		time.Sleep(600 * time.Millisecond)
		code, rep := serve(s)
		if code != http.StatusServiceUnavailable || runs.Load() != 2 {
			t.Errorf("poll after TTL = %d after %d runs, want 503 after 2", code, runs.Load())
		}
		if c, _ := checkStatus(rep, "slow"); c.Status != "failing" || c.Error != "down" || c.DurationMS != 100 {
			t.Errorf("check result = %+v", c)
		}
		// AddCheck invalidates the cache.
		s.AddCheck(FuncCheck("extra", func() error { return nil }))
		if _, rep := serve(s); runs.Load() != 3 || len(rep.Checks) != 2 {
			t.Errorf("after AddCheck: %d runs, %d checks; want 3, 2", runs.Load(), len(rep.Checks))
		}
	})
}

func TestReadyzCheckTimeoutAndPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := New(Options{Logger: testLogger(t), CheckTimeout: 500 * time.Millisecond, Checks: []Check{
			{Name: "honours-ctx", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
			{Name: "ignores-ctx", Run: func(context.Context) error { <-release; return nil }},
			{Name: "panics", Run: func(context.Context) error { panic("boom") }},
			{Name: "no-func"},
			FuncCheck("fine", func() error { return nil }),
		}})
		begin := time.Now()
		code, rep := serve(s)
		if took := time.Since(begin); took != 500*time.Millisecond {
			t.Errorf("/readyz took %v, want the check timeout", took)
		}
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d, want 503", code)
		}
		want := map[string]string{
			"honours-ctx": "no answer within 500ms",
			"ignores-ctx": "no answer within 500ms",
			"panics":      "check panicked: boom",
			"no-func":     "check has no Run function",
		}
		for name, msg := range want {
			if c, ok := checkStatus(rep, name); !ok || c.Status != "failing" || !strings.Contains(c.Error, msg) {
				t.Errorf("%s = %+v, want failing with %q", name, c, msg)
			}
		}
		if c, _ := checkStatus(rep, "fine"); c.Status != "ok" {
			t.Errorf("fine = %+v", c)
		}

		// Shutdown waits for the check that ignores its context, and gives
		// up with an error when its own context ends first.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown with a stuck check = %v, want deadline exceeded", err)
		}
		close(release)
		if err := s.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown after the check returned = %v", err)
		}
	})
}

func TestWithGraceAndLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var owned []string
		var mu sync.Mutex
		leases := WithGrace(LeasesCheck(func() []string { mu.Lock(); defer mu.Unlock(); return owned }), 30*time.Second)
		ctx := context.Background()
		if err := leases.Run(ctx); err != nil {
			t.Errorf("during grace: %v", err)
		}
		time.Sleep(30 * time.Second)
		if err := leases.Run(ctx); !errors.Is(err, ErrNoLeases) {
			t.Errorf("after grace without leases: %v, want ErrNoLeases", err)
		}
		mu.Lock()
		owned = []string{"shardId-000000000000"}
		mu.Unlock()
		if err := leases.Run(ctx); err != nil {
			t.Errorf("with a lease: %v", err)
		}
		if leases.Name != "leases" {
			t.Errorf("name = %q", leases.Name)
		}
	})
}

// TestHealthzFollowsLivenessChecks: /healthz answers 503 naming the
// failing liveness check while it fails (a panicking one included), and
// 200 again once it passes; readiness checks never affect it.
func TestHealthzFollowsLivenessChecks(t *testing.T) {
	var gaveUp atomic.Value
	gaveUp.Store("")
	s, base := start(t, Options{Logger: testLogger(t), Checks: []Check{
		FuncCheck("redis", func() error { return errors.New("connection refused") }),
	}})
	s.AddLiveness(FuncCheck("outputs", func() error {
		if why := gaveUp.Load().(string); why != "" {
			return errors.New(why)
		}
		return nil
	}))
	if code, body := get(t, base, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("live, with a failing readiness check: /healthz = %d %q, want 200 ok", code, body)
	}
	gaveUp.Store("firehose clicks: gave up after 2s")
	if code, body := get(t, base, "/healthz"); code != http.StatusServiceUnavailable || body != "unhealthy\noutputs: firehose clicks: gave up after 2s\n" {
		t.Errorf("output gave up: /healthz = %d %q, want 503 naming the check", code, body)
	}
	s.AddLiveness(Check{Name: "broken", Run: func(context.Context) error { panic("boom") }})
	gaveUp.Store("")
	if code, body := get(t, base, "/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "broken: check panicked: boom") {
		t.Errorf("panicking check: /healthz = %d %q, want 503", code, body)
	}
}

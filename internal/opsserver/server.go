package opsserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultCheckTimeout = 2 * time.Second
	DefaultCacheTTL     = time.Second
)

// Options configure New.
type Options struct {
	// Metrics is served on /metrics; nil: /metrics is 404.
	Metrics http.Handler
	// Checks decide readiness; more can be added with AddCheck.
	Checks []Check
	// CheckTimeout bounds each check; default DefaultCheckTimeout. Keep it
	// below the load balancer's health-check timeout.
	CheckTimeout time.Duration
	// CacheTTL is how long a readiness report is reused; default
	// DefaultCacheTTL. Negative: never cached.
	CacheTTL time.Duration
	// Logger receives readiness changes and serve errors; default
	// slog.Default().
	Logger *slog.Logger
}

// Server serves /metrics, /healthz and /readyz. Create it with New.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler

	// checkCtx is the parent of every check's context; Shutdown cancels it.
	checkCtx    context.Context
	cancelCheck context.CancelFunc
	checkWG     sync.WaitGroup // check goroutines

	mu        sync.Mutex
	checks    []Check
	liveness  []Check
	report    Report
	expires   time.Time
	running   chan struct{} // closed when the evaluation in progress ends; nil when none
	lastReady *bool         // previous evaluation's outcome, for logging changes

	srvMu     sync.Mutex
	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
	serveErr  error
	shutdown  bool
}

// Report is the body of /readyz.
type Report struct {
	Status    string        `json:"status"` // "ready" or "unready"
	Checks    []CheckResult `json:"checks"`
	CheckedAt time.Time     `json:"checked_at"`
}

// Ready tells whether every check passed.
func (r Report) Ready() bool { return r.Status == "ready" }

// CheckResult is one check's outcome in a Report.
type CheckResult struct {
	Name       string  `json:"name"`
	Status     string  `json:"status"` // "ok" or "failing"
	Error      string  `json:"error,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// New creates a server; nothing listens until Start.
func New(o Options) *Server {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = DefaultCheckTimeout
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{opts: o, log: o.Logger, checks: slices.Clone(o.Checks)}
	s.checkCtx, s.cancelCheck = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	s.mux, s.handler = mux, mux
	return s
}

// Handle serves more routes beside the three endpoints, such as a status
// page mounted as "/" (the built-in routes are more specific and win). It
// panics, as http.ServeMux does, on a pattern that conflicts with one
// already registered.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// AddCheck registers a readiness check; it counts from the next evaluation.
func (s *Server) AddCheck(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
	s.expires = time.Time{}
}

// AddLiveness registers a liveness check: /healthz answers 503 while it
// fails. Liveness checks run on every request, in the handler, with the
// check timeout; use them only for in-memory state that a restart clears
// (an output that gave up), never for a dependency that may come back by
// itself (that is readiness).
func (s *Server) AddLiveness(c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.liveness = append(s.liveness, c)
}

// serveHealth answers 200 "ok" unless a liveness check fails: then 503 and
// the failing checks, one per line.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks := slices.Clone(s.liveness)
	s.mu.Unlock()
	var failing []string
	for _, c := range checks {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.CheckTimeout)
		err := run(ctx, c)
		cancel()
		if err != nil {
			failing = append(failing, c.Name+": "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failing) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unhealthy\n" + strings.Join(failing, "\n") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Handler serves the three endpoints (for tests, or to mount elsewhere).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on addr (":9090", "127.0.0.1:0") and serves in a goroutine
// of its own until Shutdown.
func (s *Server) Start(addr string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.shutdown {
		return errors.New("opsserver: start after shutdown")
	}
	if s.srv != nil {
		return fmt.Errorf("opsserver: already serving on %s", s.ln.Addr())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("opsserver: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A scrape of a large registry, or a /readyz that waits for its
		// checks, must finish well inside this.
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  60 * time.Second,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.serveDone = make(chan struct{})
	go func() { // owned: ends when Shutdown closes the server
		defer close(s.serveDone)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ops server stopped", "addr", ln.Addr().String(), "err", err)
			s.srvMu.Lock()
			s.serveErr = err
			s.srvMu.Unlock()
		}
	}()
	s.log.Info("ops server listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address Start listens on ("" before Start), with the port
// chosen when it was 0.
func (s *Server) Addr() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server gracefully: it stops listening, waits for
// in-flight requests, cancels running checks and waits for every goroutine
// the server started, or until ctx ends. Calling it again, or without
// Start, only waits for running checks.
func (s *Server) Shutdown(ctx context.Context) error {
	s.srvMu.Lock()
	srv, done := s.srv, s.serveDone
	s.shutdown = true
	s.srvMu.Unlock()

	var errs []error
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("opsserver: shutdown: %w", err))
			_ = srv.Close() // ctx ended: cut the remaining connections
		}
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("opsserver: waiting for the server goroutine: %w", ctx.Err()))
		}
	}
	s.cancelCheck()
	checksDone := make(chan struct{})
	go func() { // owned: ends when every check goroutine has returned
		s.checkWG.Wait()
		close(checksDone)
	}()
	select {
	case <-checksDone:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("opsserver: waiting for readiness checks: %w", ctx.Err()))
	}
	s.srvMu.Lock()
	if s.serveErr != nil {
		errs = append(errs, fmt.Errorf("opsserver: serve: %w", s.serveErr))
	}
	s.srvMu.Unlock()
	return errors.Join(errs...)
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Readiness(r.Context())
	if err != nil {
		http.Error(w, "readiness: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	body, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		http.Error(w, "readiness: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(append(body, '\n'))
}

// Readiness returns the current readiness report: the cached one while it
// is fresh, else the result of running every check (or of the evaluation
// another caller already started). It returns an error only when ctx ends
// while waiting for another caller's evaluation.
func (s *Server) Readiness(ctx context.Context) (Report, error) {
	s.mu.Lock()
	if time.Now().Before(s.expires) {
		rep := s.report
		s.mu.Unlock()
		return rep, nil
	}
	if wait := s.running; wait != nil {
		s.mu.Unlock()
		select {
		case <-wait:
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.report, nil
		case <-ctx.Done():
			return Report{}, ctx.Err()
		}
	}
	wait := make(chan struct{})
	s.running = wait
	checks := slices.Clone(s.checks)
	s.mu.Unlock()

	rep := s.evaluate(checks)

	s.mu.Lock()
	s.report = rep
	s.expires = time.Now().Add(s.opts.CacheTTL)
	s.running = nil
	close(wait)
	changed := s.lastReady == nil || *s.lastReady != rep.Ready()
	ready := rep.Ready()
	s.lastReady = &ready
	s.mu.Unlock()
	if changed {
		s.logChange(rep)
	}
	return rep, nil
}

func (s *Server) logChange(rep Report) {
	if rep.Ready() {
		s.log.Info("ready", "checks", len(rep.Checks))
		return
	}
	var failing []any
	for _, c := range rep.Checks {
		if c.Status != statusOK {
			failing = append(failing, slog.String(c.Name, c.Error))
		}
	}
	s.log.Warn("not ready", slog.Group("failing", failing...))
}

const (
	statusOK      = "ok"
	statusFailing = "failing"
)

type outcome struct {
	i   int
	err error
	d   time.Duration
}

// evaluate runs every check concurrently, each under CheckTimeout, and
// reports a check that has not returned by then as timed out (its goroutine
// ends when the check honours its cancelled context).
func (s *Server) evaluate(checks []Check) Report {
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.checkCtx, s.opts.CheckTimeout)
	defer cancel()
	results := make(chan outcome, len(checks)) // buffered: a late check never blocks
	for i, c := range checks {
		s.checkWG.Go(func() {
			t := time.Now()
			err := run(ctx, c)
			results <- outcome{i, err, time.Since(t)}
		})
	}
	rep := Report{Status: "ready", Checks: make([]CheckResult, len(checks)), CheckedAt: start.UTC()}
	seen := make([]bool, len(checks))
	record := func(o outcome) {
		seen[o.i] = true
		if o.err != nil && ctx.Err() != nil && errors.Is(o.err, context.DeadlineExceeded) {
			o.err = fmt.Errorf("no answer within %s: %w", s.opts.CheckTimeout, o.err)
		}
		rep.Checks[o.i] = result(checks[o.i].Name, o.err, o.d)
	}
collect:
	for range checks {
		select {
		case o := <-results:
			record(o)
		case <-ctx.Done():
			break collect
		}
	}
	for { // answers that raced the deadline still count
		select {
		case o := <-results:
			record(o)
			continue
		default:
		}
		break
	}
	for i, c := range checks {
		if !seen[i] {
			err := fmt.Errorf("no answer within %s: %w", s.opts.CheckTimeout, ctx.Err())
			rep.Checks[i] = result(c.Name, err, time.Since(start))
		}
		if rep.Checks[i].Status != statusOK {
			rep.Status = "unready"
		}
	}
	return rep
}

func result(name string, err error, d time.Duration) CheckResult {
	r := CheckResult{Name: name, Status: statusOK, DurationMS: float64(d.Microseconds()) / 1000}
	if err != nil {
		r.Status, r.Error = statusFailing, err.Error()
	}
	return r
}

// run calls a check, turning a panic into its error: a broken check must
// make the process unready, not crash it.
func run(ctx context.Context, c Check) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	if c.Run == nil {
		return errors.New("check has no Run function")
	}
	return c.Run(ctx)
}

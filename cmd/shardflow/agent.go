package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/shardflow/shardflow/ingest"
	"github.com/shardflow/shardflow/ingest/agentprom"
)

// cmdAgent runs `shardflow agent`: the flows of an agent file, tailing
// files or reading S3 prefixes into Kinesis or Firehose.
func cmdAgent(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "agent config file (YAML)")
	once := fs.Bool("once", false, "read every file/object found to its end, wait for the puts, exit (backfills)")
	metrics := fs.String("metrics", "", "address of /metrics and /healthz (overrides metrics_listen; off disables)")
	logFormat := fs.String("log-format", "text", "log format: json or text")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	progress := fs.String("progress", "auto", "progress line: auto (on a terminal), always, never")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "agent: -c FILE is required")
		return errUsage
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := ingest.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *metrics != "" {
		cfg.MetricsListen = *metrics
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	a, err := ingest.New(ctx, cfg, ingest.Options{Once: *once, Logger: log})
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "off" {
		srv, addr, err := serveAgentMetrics(a, cfg.MetricsListen)
		if err != nil {
			return err
		}
		log.Info("metrics endpoint", "addr", addr)
		defer srv.Close()
	}
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		switch {
		case *progress == "never":
			<-done
		case *progress == "always" || (*progress == "auto" && tty):
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					fmt.Fprintln(stderr)
					return
				case <-t.C:
					fmt.Fprintf(stderr, "\r\033[K%s", progressLine(a.Snapshot()))
				}
			}
		default:
			t := time.NewTicker(cfg.ProgressInterval.D())
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					log.Info("progress", "summary", progressLine(a.Snapshot()))
				}
			}
		}
	}()
	runErr := a.Run(ctx)
	close(done)
	<-progressDone
	for _, f := range a.Snapshot().Flows {
		fmt.Fprintln(stdout, flowSummary(f))
	}
	return runErr
}

// progressLine is one line over every flow.
func progressLine(s ingest.Snapshot) string {
	var parts []string
	for _, f := range s.Flows {
		var lag int64
		for _, src := range f.Sources {
			lag += src.Lag
		}
		p := fmt.Sprintf("%s: %d lines, %d put (%s), lag %s", f.Name, f.LinesRead, f.RecordsPut, bytesText(f.BytesPut), bytesText(lag))
		if f.Resent > 0 {
			p += fmt.Sprintf(", %d resent", f.Resent)
		}
		if n := sum(f.DeadLetters); n > 0 {
			p += fmt.Sprintf(", %d dead-lettered", n)
		}
		if f.LastError != "" {
			p += ", failing: " + shorten(f.LastError, 60)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " | ")
}

// flowSummary is the line printed per flow when the agent stops.
func flowSummary(f ingest.FlowSnapshot) string {
	return fmt.Sprintf("agent: flow %s → %s: %d lines read, %d records put (%d bytes, %d service records, %d calls, %d resent), %d dead-lettered %v, %d skipped %v",
		f.Name, f.Destination, f.LinesRead, f.RecordsPut, f.BytesPut, f.Entries, f.Calls, f.Resent,
		sum(f.DeadLetters), f.DeadLetters, sum(f.Skipped), f.Skipped)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// serveAgentMetrics serves /metrics (the agent's and the Go runtime's) and
// /healthz (200, or 503 with the reason when Agent.Healthy reports one).
func serveAgentMetrics(a *ingest.Agent, addr string) (*http.Server, string, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(agentprom.New(a), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.Healthy(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("agent: metrics_listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "agent: metrics server:", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

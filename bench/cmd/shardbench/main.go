package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shardflow/shardflow/bench/harness"
	"github.com/shardflow/shardflow/bench/workload"
)

func main() {
	events := flag.Int("events", 1_000_000, "reference events per table run")
	batch := flag.Int("batch", 500, "records per KCL batch")
	shards := flag.Int("shards", runtime.GOMAXPROCS(0), "shard goroutines of the table runs")
	pool := flag.Int("pool", 200_000, "events replayed by the 64/16-shard runs")
	paced := flag.Duration("paced", 10*time.Second, "duration of the paced 64- and 16-shard runs")
	only := flag.String("only", "", `"table" or "shards" to run one part`)
	match := flag.String("run", "", "only table paths whose name contains this; the path of the shard runs (default decode+redis+ndjson+csv)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	blockProfile := flag.String("blockprofile", "", "write blocking and mutex-contention profiles to this file (.block, .mutex)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "shardbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *blockProfile != "" {
		runtime.SetBlockProfileRate(int(time.Microsecond))
		runtime.SetMutexProfileFraction(10)
		defer writeProfiles(*blockProfile)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *events, *batch, *shards, *pool, *paced, *only, *match); err != nil {
		fmt.Fprintln(os.Stderr, "shardbench:", err)
		stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func writeProfiles(base string) {
	for _, name := range []string{"block", "mutex"} {
		f, err := os.Create(base + "." + name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "shardbench:", err)
			continue
		}
		if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "shardbench:", err)
		}
		f.Close()
	}
}

func run(ctx context.Context, events, batch, shards, pool int, paced time.Duration, only, match string) error {
	dir, err := os.MkdirTemp("", "shardbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := harness.NewEnv(ctx, dir, true)
	if err != nil {
		fmt.Fprintf(os.Stderr, "shardbench: no Redis scenarios (%v)\n", err)
		if env, err = harness.NewEnv(ctx, dir, false); err != nil {
			return err
		}
	}
	defer env.Close()
	fmt.Printf("shardflow in-process benchmark — %s, %s, GOMAXPROCS %d, %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), cpuModel(), runtime.GOMAXPROCS(0), runtime.Version())
	if only == "" || only == "table" {
		if err := table(ctx, env, events, batch, shards, match); err != nil {
			return err
		}
	}
	if only == "" || only == "shards" {
		if err := shardRuns(ctx, env, pool, batch, paced, match); err != nil {
			return err
		}
	}
	return nil
}

// table runs every scenario over the whole reference workload.
func table(ctx context.Context, env *harness.Env, events, batch, shards int, match string) error {
	ds := harness.Generate(workload.Config{Seed: 1, Total: events}, events, batch)
	fmt.Printf("\n%d reference events (%.0f MB), batches of %d, %d shard goroutines; Redis: private redis-server, cache warmed by one pass\n\n",
		ds.Records, float64(ds.Bytes)/1e6, batch, shards)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\trecords/s\trecords/s/core\tMB/s\tcores busy\tallocs/record\tredis cmds/record\tredis bytes/record\tpeak RSS MB\t")
	for _, sc := range harness.Scenarios() {
		if match != "" && !strings.Contains(sc.Name, match) {
			continue
		}
		if sc.Redis && env.Redis == nil {
			continue
		}
		if err := env.ResetWindowState(ctx); err != nil {
			return err
		}
		p, err := harness.Build(sc.Spec(env))
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		load := harness.Load{Shards: shards}
		if sc.Redis {
			if err := harness.Warm(ctx, p, ds); err != nil {
				return err
			}
			load.Commands, load.InputBytes = env.Redis.Commands, env.Redis.InputBytes
		}
		debug.FreeOSMemory()
		r, err := harness.Run(ctx, p, ds, load)
		if cerr := p.Close(ctx); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		cmds, bytes := "-", "-"
		if r.Commands >= 0 {
			cmds = fmt.Sprintf("%.4f", r.CommandsPerRecord())
		}
		if r.RedisBytes >= 0 {
			bytes = fmt.Sprintf("%.1f", r.RedisBytesPerRecord())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%.2f\t%.3f\t%s\t%s\t%s\t\n", sc.Name, thousands(r.RecordsPerSec()),
			thousands(r.RecordsPerCPUSec()), r.MBPerSec(), r.CPUUtil(), r.AllocsPerRecord(), cmds, bytes, mb(r.PeakRSS))
	}
	return tw.Flush()
}

// shardRuns answers: does one process keep up with 64 shards at 1 MB/s
// each, and what is its RSS with 16 busy shards? The path is the full one
// (decode → Redis plan, warm → NDJSON and CSV encode into discard).
func shardRuns(ctx context.Context, env *harness.Env, pool, batch int, paced time.Duration, path string) error {
	name := "decode+redis+ndjson+csv"
	if env.Redis == nil {
		name = "decode+static+ndjson+csv"
	}
	if path != "" {
		name = path
	}
	var sc harness.Scenario
	for _, s := range harness.Scenarios() {
		if s.Name == name {
			sc = s
		}
	}
	if sc.Spec == nil {
		return fmt.Errorf("no path %q", name)
	}
	ds := harness.Generate(workload.Config{Seed: 2, Total: pool}, pool, batch)
	p, err := harness.Build(sc.Spec(env))
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	if err := harness.Warm(ctx, p, ds); err != nil {
		return err
	}
	const mbps = 1_000_000
	fmt.Printf("\npath %s; %d events (%.0f MB) replayed by every run, batches of %d, 8 in flight per shard\n\n",
		name, ds.Records, float64(ds.Bytes)/1e6, batch)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tMB/s achieved\tMB/s needed\tkeeps up\tmax behind schedule\tcores busy\tMB per CPU-second\tRSS at start MB\tpeak RSS MB\t")
	for _, c := range []struct {
		label  string
		shards int
		rate   float64
		dur    time.Duration
	}{
		{"16 shards at 1 MB/s", 16, mbps, paced},
		{"64 shards at 1 MB/s", 64, mbps, paced},
		{"64 shards, unpaced", 64, 0, paced},
	} {
		debug.FreeOSMemory() // RSS at start: the dataset and what is live
		r, err := harness.Run(ctx, p, ds, harness.Load{Shards: c.shards, BytesPerSecond: c.rate, Duration: c.dur})
		if err != nil {
			return fmt.Errorf("%s: %w", c.label, err)
		}
		needed := float64(c.shards)
		keeps := r.MBPerSec() >= 0.98*needed
		behind := "-"
		if c.rate > 0 {
			behind = r.Behind.Round(time.Millisecond).String()
			keeps = keeps && r.Behind < time.Second
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%v\t%s\t%.2f\t%.0f\t%s\t%s\t\n", c.label, r.MBPerSec(), needed, yes(keeps), behind,
			r.CPUUtil(), float64(r.Bytes)/1e6/r.CPU.Seconds(), mb(r.StartRSS), mb(r.PeakRSS))
	}
	return tw.Flush()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func mb(b int64) string {
	if b < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return fmt.Sprintf("%s × %d", strings.TrimSpace(v), runtime.NumCPU())
		}
	}
	return runtime.GOARCH
}

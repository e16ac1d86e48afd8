package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/shardflow/shardflow/internal/checkpointadmin"
	"github.com/shardflow/shardflow/pipeline"
)

const statusUsage = `usage: shardflow status -c FILE

The whole pipeline from its stores, without any task's ops port: every shard
with its lease (owner, expiry), checkpoint and how far the checkpoint is
behind the stream (the first unprocessed record's age, one GetRecords per
shard), and every window with its emitter (lock holder), watermark and
emitted-through time (from Redis). Outputs' health is per task: /healthz.
`

// cmdStatus prints the pipeline's leases, lag and window progress.
func cmdStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	if helpRequested(args) {
		fmt.Fprint(stderr, statusUsage+"\nflags:\n")
		fs.PrintDefaults()
		return errHelp
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "status: -c FILE is required")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := openCheckpointAdmin(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	v, err := a.read(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(stdout, "pipeline %s, stream %s: %d shards; leases in %s %s\n", cfg.Name, cfg.Source.Stream,
		len(v.shards), a.store.Kind(), a.store.Where())
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tOWNER\tLEASE\tCHECKPOINT LAG")
	live, unowned := 0, 0
	for _, s := range v.shards {
		state := "open"
		if s.Closed {
			state = "closed"
		}
		l, ok := v.leases[s.ID]
		owner, lease, lag := "-", "never leased", "no checkpoint ("+cfg.Source.InitialPosition+" applies)"
		if ok {
			lease = leaseState(l, now)
			if l.Owner != "" {
				owner = l.Owner
			}
			if l.Live(now) {
				live++
			}
		}
		if !ok || !l.Live(now) {
			if !(ok && l.Checkpoint == checkpointadmin.ShardEnd) {
				unowned++
			}
		}
		switch {
		case ok && l.Checkpoint == checkpointadmin.ShardEnd:
			lag = "finished (SHARD_END)"
		case ok && l.Checkpoint != "":
			d, err := checkpointadmin.CheckpointLag(ctx, a.kc, cfg.Source.Stream, s.ID, l.Checkpoint)
			switch {
			case err != nil:
				lag = "? " + err.Error()
			case d.Next.IsZero():
				lag = "caught up"
			default:
				lag = fmt.Sprintf("%s (next record arrived %s)", now.Sub(d.Next).Round(time.Second), d.Next.UTC().Format(time.RFC3339))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, state, owner, lease, lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d live leases; %d shards not finished and not owned\n", live, unowned)
	if len(cfg.Windows) == 0 {
		return nil
	}
	rc, err := pipeline.RedisClient(cfg.Redis)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	defer rc.Close()
	prefix := cfg.Redis.KeyPrefix
	if prefix == "" {
		prefix = "sf"
	}
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nWINDOW\tEMITTER\tWATERMARK\tEMITTED THROUGH")
	for _, w := range cfg.Windows {
		// processors/window's emitter hash: holder, expires (ms), wm and
		// emitted (µs).
		key := prefix + ":win:{" + cfg.Name + ":" + w.Name + "}:emit"
		vals, err := rc.HMGet(ctx, key, "holder", "expires", "wm", "emitted").Result()
		if err != nil {
			return fmt.Errorf("status: window %s: read %s: %w", w.Name, key, err)
		}
		str := func(i int) string { s, _ := vals[i].(string); return s }
		num := func(i int) int64 { n, _ := strconv.ParseInt(str(i), 10, 64); return n }
		emitter := "none"
		if h := str(0); h != "" {
			if exp := time.UnixMilli(num(1)); exp.After(now) {
				emitter = fmt.Sprintf("%s (lock for %s)", h, exp.Sub(now).Round(100*time.Millisecond))
			} else {
				emitter = fmt.Sprintf("none (%s's lock expired)", h)
			}
		}
		at := func(i int) string {
			if str(i) == "" {
				return "-"
			}
			t := time.UnixMicro(num(i)).UTC()
			return fmt.Sprintf("%s (%s behind)", t.Format(time.RFC3339), now.Sub(t).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.Name, emitter, at(2), at(3))
	}
	return tw.Flush()
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/internal/checkpointadmin"
	"github.com/shardflow/shardflow/pipeline"
)

const checkpointsUsage = `usage: shardflow checkpoints list -c FILE
       shardflow checkpoints reset -c FILE --to POSITION [--shard S]... [--dry-run] [--force]

list    every shard of the stream with its lease (owner, expiry) and checkpoint
reset   rewrite checkpoints so that the pipeline restarts the shards at POSITION:
          trim_horizon              the oldest record still in the stream
          latest                    after the newest record (skip the backlog)
          at_timestamp=<RFC 3339>   the first record that arrived at or after the time
          sequence=<number>         after that sequence number (needs --shard)
        source.initial_position applies only to shards WITHOUT a checkpoint; this is
        how to move shards that have one. It refuses while workers hold live leases:
        stop the service first (ECS desired count 0; leases end on SIGTERM), or pass
        --force to revoke them (their holders stop those shards at their next renewal).
        Window state is not rewound: window operators skip rows they already applied.
`

// cmdCheckpoints lists or rewinds a pipeline's checkpoints.
func cmdCheckpoints(args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("checkpoints "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	to := fs.String("to", "", "reset: trim_horizon, latest, at_timestamp=<RFC 3339> or sequence=<number>")
	var shards stringList
	fs.Var(&shards, "shard", "reset: only this shard (repeatable; default every shard of the stream)")
	dryRun := fs.Bool("dry-run", false, "reset: print the new checkpoints, write nothing")
	force := fs.Bool("force", false, "reset: revoke live leases instead of refusing")
	if helpRequested(args) || sub == "help" {
		fmt.Fprint(stderr, checkpointsUsage+"\nflags:\n")
		fs.PrintDefaults()
		return errHelp
	}
	if sub != "list" && sub != "reset" {
		fmt.Fprint(stderr, checkpointsUsage)
		return errUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	// "--to at_timestamp 2026-…" as well as "--to at_timestamp=2026-…";
	// flags may follow the time.
	var at string
	if strings.EqualFold(*to, "at_timestamp") && fs.NArg() > 0 {
		at = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return errUsage
		}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "checkpoints: unexpected arguments %v\n", fs.Args())
		return errUsage
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "checkpoints: -c FILE is required")
		return errUsage
	}
	var pos checkpointadmin.Position
	if sub == "reset" {
		if *to == "" {
			fmt.Fprintln(stderr, "checkpoints reset: --to is required")
			return errUsage
		}
		spec := *to
		if at != "" {
			spec += "=" + at
		}
		var err error
		if pos, err = checkpointadmin.ParsePosition(spec); err != nil {
			fmt.Fprintln(stderr, "checkpoints reset: --to:", err)
			return errUsage
		}
		if pos.Kind == checkpointadmin.AtSequence && len(shards) != 1 {
			fmt.Fprintln(stderr, "checkpoints reset: --to sequence=N needs exactly one --shard")
			return errUsage
		}
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
	if sub == "list" {
		return a.list(ctx, stdout)
	}
	return a.reset(ctx, stdout, pos, shards, *dryRun, *force)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// checkpointAdmin is one pipeline's stream and lease store.
type checkpointAdmin struct {
	cfg   *pipeline.Config
	kc    *kinesis.Client
	store checkpointadmin.Store
	close func()
}

func openCheckpointAdmin(ctx context.Context, cfg *pipeline.Config) (*checkpointAdmin, error) {
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &checkpointAdmin{cfg: cfg, close: func() {}}
	a.kc = kinesisFromAWS(ac, cfg)
	switch cfg.Source.Checkpoints.Type {
	case "dynamodb":
		ddb := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
			if cfg.AWS.Endpoints.DynamoDB != "" {
				o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.DynamoDB)
			}
		})
		a.store = checkpointadmin.NewDynamoStore(ddb, cfg.Source.Checkpoints.Table)
	default:
		rc, err := pipeline.RedisClient(cfg.Redis)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		a.close = func() { _ = rc.Close() }
		a.store = checkpointadmin.NewRedisStore(rc, cfg.Redis.KeyPrefix, cfg.Name)
	}
	return a, nil
}

// view is the stream's shards joined with their lease rows.
type view struct {
	shards []checkpointadmin.Shard
	leases map[string]checkpointadmin.Lease
	extra  []checkpointadmin.Lease // lease rows of shards no longer in the stream
}

func (a *checkpointAdmin) read(ctx context.Context) (*view, error) {
	shards, err := checkpointadmin.ListShards(ctx, a.kc, a.cfg.Source.Stream)
	if err != nil {
		return nil, err
	}
	leases, err := a.store.List(ctx)
	if err != nil {
		return nil, err
	}
	v := &view{shards: shards, leases: map[string]checkpointadmin.Lease{}}
	inStream := map[string]bool{}
	for _, s := range shards {
		inStream[s.ID] = true
	}
	for _, l := range leases {
		if inStream[l.Shard] {
			v.leases[l.Shard] = l
		} else {
			v.extra = append(v.extra, l)
		}
	}
	return v, nil
}

func (a *checkpointAdmin) list(ctx context.Context, w io.Writer) error {
	v, err := a.read(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(w, "pipeline %s, stream %s: %d shards; leases in %s %s\n", a.cfg.Name, a.cfg.Source.Stream,
		len(v.shards), a.store.Kind(), a.store.Where())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tOWNER\tLEASE\tCHECKPOINT")
	live := 0
	row := func(id, state string, l checkpointadmin.Lease, ok bool) {
		owner, lease, ckpt := "-", "never leased", "none ("+a.cfg.Source.InitialPosition+" applies)"
		if ok {
			lease = leaseState(l, now)
			if l.Owner != "" {
				owner = l.Owner
			}
			if l.Live(now) {
				live++
			}
			if l.Checkpoint != "" {
				ckpt = l.Checkpoint
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, state, owner, lease, ckpt)
	}
	for _, s := range v.shards {
		state := "open"
		if s.Closed {
			state = "closed"
		}
		l, ok := v.leases[s.ID]
		row(s.ID, state, l, ok)
	}
	for _, l := range v.extra {
		row(l.Shard, "gone", l, true)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if live > 0 {
		fmt.Fprintf(w, "%d shards have live leases: `checkpoints reset` refuses them until the workers stop (or --force).\n", live)
	}
	return nil
}

func leaseState(l checkpointadmin.Lease, now time.Time) string {
	switch {
	case l.Expires.IsZero():
		return "free"
	case l.Live(now):
		return fmt.Sprintf("live, expires in %s", l.Expires.Sub(now).Round(100*time.Millisecond))
	case l.Owner == "":
		return "free"
	}
	return fmt.Sprintf("expired %s ago", now.Sub(l.Expires).Round(time.Second))
}

func (a *checkpointAdmin) reset(ctx context.Context, w io.Writer, pos checkpointadmin.Position, only []string, dryRun, force bool) error {
	v, err := a.read(ctx)
	if err != nil {
		return err
	}
	targets := v.shards
	if len(only) > 0 {
		byID := map[string]checkpointadmin.Shard{}
		for _, s := range v.shards {
			byID[s.ID] = s
		}
		targets = nil
		for _, id := range only {
			s, ok := byID[id]
			if !ok {
				return fmt.Errorf("checkpoints reset: shard %s is not in stream %s", id, a.cfg.Source.Stream)
			}
			targets = append(targets, s)
		}
	}
	now := time.Now()
	var live []string
	for _, s := range targets {
		if l, ok := v.leases[s.ID]; ok && l.Live(now) {
			live = append(live, fmt.Sprintf("%s (owner %s, %s)", s.ID, l.Owner, leaseState(l, now)))
		}
	}
	if len(live) > 0 && !force {
		return fmt.Errorf("checkpoints reset: workers hold live leases on %d shards: %s.\n"+
			"Stop the pipeline first (ECS: desired count 0; a stopped task releases its leases, a killed one's expire after source.lease_duration %s), "+
			"or pass --force to revoke the leases", len(live), strings.Join(live, "; "), a.cfg.Source.LeaseDuration.D())
	}
	res, err := checkpointadmin.NewResolver(ctx, a.kc, a.cfg.Source.Stream)
	if err != nil {
		return err
	}
	type change struct {
		shard      checkpointadmin.Shard
		seen       checkpointadmin.Lease
		checkpoint string
	}
	var plan []change
	for _, s := range targets {
		cp, err := res.Checkpoint(ctx, s, pos)
		if err != nil {
			return fmt.Errorf("checkpoints reset: %s: %w", pos, err)
		}
		l, ok := v.leases[s.ID]
		if !ok {
			l = checkpointadmin.Lease{Shard: s.ID}
		}
		plan = append(plan, change{s, l, cp})
	}
	verb := "reset"
	if dryRun {
		verb = "would reset"
	}
	fmt.Fprintf(w, "%s %d shards of stream %s (pipeline %s, %s) to %s:\n", verb, len(plan), a.cfg.Source.Stream, a.cfg.Name, a.store.Kind(), pos)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tFROM\tTO")
	for _, c := range plan {
		from := c.seen.Checkpoint
		if from == "" {
			from = "none"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.shard.ID, from, c.checkpoint)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if dryRun {
		return nil
	}
	var failed []error
	for _, c := range plan {
		if err := a.store.SetCheckpoint(ctx, c.seen, c.checkpoint, force, time.Now()); err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("checkpoints reset: %d of %d shards not written (a worker took the lease meanwhile? run `checkpoints list`): %w",
			len(failed), len(plan), errors.Join(failed...))
	}
	fmt.Fprintf(w, "done: start the pipeline; each shard resumes after its new checkpoint.\n")
	if len(a.cfg.Windows) > 0 {
		fmt.Fprintf(w, "windows (%d): their state is not rewound. Replayed rows at or below a window's applied mark per shard are skipped,\n"+
			"so nothing is counted twice and windows already emitted are not emitted again; only direct outputs receive the replay.\n", len(a.cfg.Windows))
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/pipeline"
)

// leaseRow is one shard in `shardflow leases`.
type leaseRow struct {
	Shard      string   `json:"shard"`
	Parents    []string `json:"parents,omitempty"`
	State      string   `json:"state"` // open, closed (split/merged, being read), ended (SHARD_END), waiting (for its parents), gone (left the stream)
	Owner      string   `json:"owner,omitempty"`
	LeaseLeft  string   `json:"lease_left,omitempty"` // time left on the owner's lease
	Token      int64    `json:"token"`
	Successor  string   `json:"successor,omitempty"`
	Checkpoint string   `json:"checkpoint,omitempty"`
	// LagMillis is how far the checkpoint is behind the shard's tip
	// (MillisBehindLatest of a read just after it); -1 when not measured.
	LagMillis  int64   `json:"lag_ms"`
	LoadBytesS float64 `json:"load_bytes_per_second"`
}

type workerRow struct {
	Worker    string `json:"worker"`
	Heartbeat string `json:"heartbeat_left"`
	Leaving   bool   `json:"leaving,omitempty"`
	Shards    int    `json:"shards"`
}

// cmdLeases prints who holds which shard of the pipeline's stream, each
// shard's checkpoint, lag and load, and the live workers.
func cmdLeases(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("leases", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: shardflow leases -c FILE [--json] [--no-lag]

Prints every shard of the pipeline's stream with its lease (owner, time
left, fencing token, successor of a handoff in progress), its checkpoint,
how far the checkpoint is behind the shard's tip (one GetShardIterator and
one GetRecords of 1 record per shard; --no-lag skips them) and its measured
load, then the live workers and the shards each holds.

flags:
`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("c", "", "pipeline config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	noLag := fs.Bool("no-lag", false, "do not read the stream to measure checkpoint lag")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "leases: -c FILE is required")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, closeStore, err := pipeline.OpenLeaseStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	kc, err := kinesisClient(ctx, cfg)
	if err != nil {
		return err
	}
	listed, err := listAllShards(ctx, kc, cfg.Source.Stream)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(listed))
	byID := map[string]types.Shard{}
	for _, s := range listed {
		id := aws.ToString(s.ShardId)
		ids = append(ids, id)
		byID[id] = s
	}
	// Shards the store knows that left the stream are shown too.
	if lister, ok := store.(interface {
		Shards(context.Context) ([]string, error)
	}); ok {
		known, err := lister.Shards(ctx)
		if err != nil {
			return err
		}
		for _, id := range known {
			if _, ok := byID[id]; !ok {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	now := time.Now()
	view, err := store.View(ctx, ids, now)
	if err != nil {
		return err
	}
	rows := make([]leaseRow, len(ids))
	held := map[string]int{}
	for i, id := range ids {
		l := view.Leases[id]
		r := leaseRow{Shard: id, Token: l.Token, Checkpoint: l.Checkpoint, LoadBytesS: l.Load, LagMillis: -1,
			Successor: l.ReservedFor(now)}
		if owner := l.LiveOwner(now); owner != "" {
			r.Owner, r.LeaseLeft = owner, l.Expires.Sub(now).Round(100*time.Millisecond).String()
			held[owner]++
		}
		s, listedNow := byID[id]
		switch {
		case !listedNow:
			r.State = "gone"
		case l.Checkpoint == checkpoints.ShardEnd:
			r.State = "ended"
		case s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil:
			r.State = "closed"
		default:
			r.State = "open"
		}
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p == nil || *p == "" {
				continue
			}
			r.Parents = append(r.Parents, *p)
			if _, parentListed := byID[*p]; parentListed && view.Leases[*p].Checkpoint != checkpoints.ShardEnd && r.State != "ended" {
				r.State = "waiting"
			}
		}
		rows[i] = r
	}
	if !*noLag {
		measureLag(ctx, kc, cfg.Source.Stream, rows)
	}
	workers := make([]workerRow, 0, len(view.Workers))
	for _, w := range view.Workers {
		workers = append(workers, workerRow{Worker: w.ID, Heartbeat: w.Expires.Sub(now).Round(100 * time.Millisecond).String(),
			Leaving: w.Leaving, Shards: held[w.ID]})
	}
	sort.Slice(workers, func(i, j int) bool { return workers[i].Worker < workers[j].Worker })
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"pipeline": cfg.Name, "stream": cfg.Source.Stream, "store": store.Name(),
			"shards": rows, "workers": workers})
	}
	fmt.Fprintf(stdout, "pipeline %s, stream %s, %s\n\n", cfg.Name, cfg.Source.Stream, store.Name())
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tSTATE\tOWNER\tLEASE LEFT\tTOKEN\tSUCCESSOR\tCHECKPOINT\tLAG\tLOAD")
	for _, r := range rows {
		lag := "-"
		if r.LagMillis >= 0 {
			lag = (time.Duration(r.LagMillis) * time.Millisecond).String()
		}
		load := "-"
		if r.LoadBytesS > 0 {
			load = humanRate(r.LoadBytesS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Shard, r.State, dash(r.Owner), dash(r.LeaseLeft), r.Token,
			dash(r.Successor), dash(shortSeq(r.Checkpoint)), lag, load)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tHEARTBEAT LEFT\tLEAVING\tSHARDS")
	for _, w := range workers {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\n", w.Worker, w.Heartbeat, w.Leaving, w.Shards)
	}
	if len(workers) == 0 {
		fmt.Fprintln(tw, "(no live worker)\t\t\t")
	}
	return tw.Flush()
}

func listAllShards(ctx context.Context, kc *kinesis.Client, stream string) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("leases: list shards of %s: %w", stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// measureLag reads one record after each open shard's checkpoint (or from
// the trim horizon without one) and keeps MillisBehindLatest.
func measureLag(ctx context.Context, kc *kinesis.Client, stream string, rows []leaseRow) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range rows {
		r := &rows[i]
		if r.State != "open" && r.State != "closed" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() { // owned by measureLag: it waits
			defer func() { <-sem; wg.Done() }()
			in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(r.Shard),
				ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
			if r.Checkpoint != "" {
				in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(r.Checkpoint)
			}
			it, err := kc.GetShardIterator(ctx, in)
			if err != nil {
				return
			}
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
			if err != nil || out.MillisBehindLatest == nil {
				return
			}
			r.LagMillis = *out.MillisBehindLatest
		}()
	}
	wg.Wait()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortSeq keeps the end of a long sequence number, which is what changes.
func shortSeq(s string) string {
	if len(s) > 16 && s != checkpoints.ShardEnd {
		return "…" + s[len(s)-12:]
	}
	return s
}

func humanRate(bps float64) string {
	switch {
	case bps >= 1<<20:
		return fmt.Sprintf("%.1f MiB/s", bps/(1<<20))
	case bps >= 1<<10:
		return fmt.Sprintf("%.1f KiB/s", bps/(1<<10))
	}
	return strings.TrimSuffix(fmt.Sprintf("%.0f B/s", bps), ".0")
}

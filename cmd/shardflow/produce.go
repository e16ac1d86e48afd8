package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

func cmdProduce(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file: the stream, region and endpoint are taken from it")
	stream := fs.String("stream", "", "stream name (overrides the config's source.stream)")
	count := fs.Int("count", 10000, "number of records to put")
	rate := fs.Float64("rate", 0, "records per second (0: as fast as the stream takes them)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "generator seed (same seed, same events)")
	malformed := fs.Int("malformed", 0, "number of undecodable records to mix in (exercises dead-letter)")
	aggregate := fs.Int("kpl", 0, "pack this many events into each KPL aggregated record (0: plain records)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "produce: -c FILE is required")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *stream == "" {
		*stream = cfg.Source.Stream
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return err
	}
	kc := kinesisFromAWS(ac, cfg)
	opts := produce.Options{Stream: *stream, Count: *count, Rate: *rate, Malformed: *malformed, Aggregate: *aggregate}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(*count, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("putting records"), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rec"), progressbar.OptionClearOnFinish())
		opts.Progress = func(done int) { _ = bar.Set(done) }
		defer bar.Finish()
	}
	gen := workload.New(workload.Config{Seed: *seed, Total: *count, Start: time.Now().UTC().Add(-10 * time.Minute)})
	sum, err := produce.Put(ctx, kc, gen, opts)
	if err != nil {
		return fmt.Errorf("produce: after %d events: %w", sum.Events, err)
	}
	fmt.Fprintf(stdout, "put %d events (%d KPL aggregates) and %d malformed records into %s in %s (%.0f events/s, %d calls, %d records retried), seed %d\n",
		sum.Events, sum.Aggregates, sum.Malformed, *stream, sum.Elapsed.Round(time.Millisecond),
		float64(sum.Events+sum.Malformed)/sum.Elapsed.Seconds(), sum.Calls, sum.Retried, *seed)
	return nil
}

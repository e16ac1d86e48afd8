package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/redrive"
	"github.com/shardflow/shardflow/pipeline"
)

const deadletterUsage = `usage: shardflow deadletter redrive -c FILE --from FILE|GLOB|s3://bucket/prefix [--reason CODE]... [--stream S] [--dry-run]

Reads dead-letter envelopes (dead_letter.file, or the objects a dead_letter.firehose
delivery stream wrote to S3, plain or GZIP) and puts each one's raw record back into
the pipeline's stream (or --stream), once. Fix the cause first — the schema, a lookup
table, or the records themselves (edit raw_base64) — or they are dead-lettered again.
Only envelopes of this pipeline are put. Redriving the same envelopes twice puts them
twice: move a file aside once it is redriven.
`

// cmdDeadLetter redrives dead letters into the stream.
func cmdDeadLetter(args []string, stdout, stderr io.Writer) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("deadletter "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file (YAML): the stream, region, endpoints and pipeline name")
	var from, reasons stringList
	fs.Var(&from, "from", "envelopes: a file, a glob, or s3://bucket/prefix (repeatable)")
	fs.Var(&reasons, "reason", "only envelopes with this reason code, e.g. invalid_json (repeatable; default all)")
	stream := fs.String("stream", "", "put into this stream instead of the config's source.stream")
	anyPipeline := fs.Bool("any-pipeline", false, "also put envelopes of other pipelines (default: only the config's name)")
	dryRun := fs.Bool("dry-run", false, "count what would be put, put nothing")
	if helpRequested(args) || sub == "help" {
		fmt.Fprint(stderr, deadletterUsage+"\nflags:\n")
		fs.PrintDefaults()
		return errHelp
	}
	if sub != "redrive" {
		fmt.Fprint(stderr, deadletterUsage)
		return errUsage
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || len(from) == 0 {
		fmt.Fprintln(stderr, "deadletter redrive: -c FILE and --from are required")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return err
	}
	var sources []redrive.Source
	for _, f := range from {
		if bucket, prefix, ok := redrive.ParseS3URL(f); ok {
			s3c := s3.NewFromConfig(ac, func(o *s3.Options) {
				if cfg.AWS.Endpoints.S3 != "" {
					o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.S3)
					o.UsePathStyle = true
					o.DisableLogOutputChecksumValidationSkipped = true
				}
			})
			objs, err := redrive.S3Sources(ctx, s3c, bucket, prefix)
			if err != nil {
				return err
			}
			if len(objs) == 0 {
				return fmt.Errorf("deadletter redrive: no objects under %s", f)
			}
			sources = append(sources, objs...)
			continue
		}
		files, err := filepath.Glob(f)
		if err != nil || len(files) == 0 {
			return fmt.Errorf("deadletter redrive: no file matches %s", f)
		}
		for _, p := range files {
			sources = append(sources, redrive.FileSource(p))
		}
	}
	opts := redrive.Options{Stream: cfg.Source.Stream, Pipeline: cfg.Name, Reasons: reasons, DryRun: *dryRun}
	if *stream != "" {
		opts.Stream = *stream
	}
	if *anyPipeline {
		opts.Pipeline = ""
	}
	kc := kinesisFromAWS(ac, cfg)
	sum, err := redrive.Redrive(ctx, kc, sources, opts)
	codes := make([]string, 0, len(sum.ByReason))
	for c, n := range sum.ByReason {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	verb := "put"
	if *dryRun {
		verb, sum.Put = "would put", sum.Matched
	}
	fmt.Fprintf(stdout, "read %d envelopes from %d sources; %d matched (%s); %s %d records into %s in %d calls (%d resent)\n",
		sum.Read, sum.Sources, sum.Matched, strings.Join(codes, ", "), verb, sum.Put, opts.Stream, sum.Calls, sum.Retried)
	return err
}

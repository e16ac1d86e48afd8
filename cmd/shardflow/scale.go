package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/pipeline"
)

// cmdScale sets an ECS service's desired count from the stream's open shard
// count: ceil(open shards / max shards per task). Runnable as a scheduled
// ECS task; --dry-run only prints.
func cmdScale(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config (stream, region, endpoints)")
	perTask := fs.Int("max-shards-per-task", 4, "shards one task serves")
	minTasks := fs.Int("min", 1, "never fewer tasks than this")
	maxTasks := fs.Int("max", 100, "never more tasks than this")
	cluster := fs.String("cluster", os.Getenv("SHARDFLOW_ECS_CLUSTER"), "ECS cluster (env SHARDFLOW_ECS_CLUSTER)")
	service := fs.String("service", os.Getenv("SHARDFLOW_ECS_SERVICE"), "ECS service (env SHARDFLOW_ECS_SERVICE)")
	dryRun := fs.Bool("dry-run", false, "print the desired count, change nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *perTask < 1 || *minTasks < 0 || *maxTasks < *minTasks {
		fmt.Fprintln(stderr, "scale: -c FILE is required; --max-shards-per-task ≥ 1; 0 ≤ --min ≤ --max")
		return errUsage
	}
	if !*dryRun && (*cluster == "" || *service == "") {
		fmt.Fprintln(stderr, "scale: --cluster and --service are required unless --dry-run")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return err
	}
	kc := kinesisFromAWS(ac, cfg)
	open, err := openShards(ctx, kc, cfg.Source.Stream)
	if err != nil {
		return err
	}
	desired := min(max((open+*perTask-1)/(*perTask), *minTasks), *maxTasks)
	fmt.Fprintf(stdout, "stream %s: %d open shards, %d per task → desired count %d\n", cfg.Source.Stream, open, *perTask, desired)
	if *dryRun {
		return nil
	}
	ec := ecs.NewFromConfig(ac)
	if _, err := ec.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(*cluster), Service: aws.String(*service), DesiredCount: aws.Int32(int32(desired)),
	}); err != nil {
		return fmt.Errorf("scale: update ECS service %s/%s: %w", *cluster, *service, err)
	}
	fmt.Fprintf(stdout, "ECS service %s/%s desired count set to %d\n", *cluster, *service, desired)
	return nil
}

// openShards counts shards without an ending sequence number.
func openShards(ctx context.Context, kc *kinesis.Client, stream string) (int, error) {
	n := 0
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			return 0, fmt.Errorf("scale: list shards of %s: %w", stream, err)
		}
		for _, s := range out.Shards {
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				n++
			}
		}
		if out.NextToken == nil {
			return n, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

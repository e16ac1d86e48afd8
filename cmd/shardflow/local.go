package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/pipeline"
)

// cmdLocal manages resources on the local stack (deploy/local). It refuses
// to touch anything that is not on a loopback endpoint: `setup` deletes and
// recreates streams and tables.
func cmdLocal(args []string, stdout, stderr io.Writer) error {
	const usage = "usage: shardflow local setup|report -c FILE [flags]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet("local "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "", "pipeline config file")
	bucket := fs.String("bucket", os.Getenv("SHARDFLOW_S3_BUCKET"), "S3 bucket Firehose delivers to (env SHARDFLOW_S3_BUCKET)")
	shards := fs.Int("shards", 4, "setup: shards of the Kinesis stream")
	interval := fs.Duration("buffer-interval", time.Second, "setup: Firehose buffering interval")
	expect := fs.Int("expect", 0, "report: wait until this many distinct ids arrived")
	idField := fs.String("id-field", "event_id", "report: field that identifies a row")
	timeout := fs.Duration("timeout", 2*time.Minute, "report: how long to wait for --expect")
	sample := fs.Int("sample", 3, "report: rows to print")
	windowSum := fs.String("window-sum", "", "report: FIELD=N waits until the window rows' FIELD (counted once per row_id) sums to N, e.g. clicks=10000")
	if helpRequested(args) {
		fmt.Fprintln(stderr, usage+`

Local stack only (every aws.endpoints must be a loopback address):
  setup   (re)creates the pipeline's stream, lease table and Firehose delivery streams
  report  prints what the delivery streams wrote to S3

flags:`)
		fs.PrintDefaults()
		return errHelp
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *cfgPath == "" || *bucket == "" {
		fmt.Fprintln(stderr, "local: -c FILE and --bucket (or SHARDFLOW_S3_BUCKET) are required")
		return errUsage
	}
	cfg, err := pipeline.Load(*cfgPath)
	if err != nil {
		return err
	}
	e := cfg.AWS.Endpoints
	for name, u := range map[string]string{"kinesis": e.Kinesis, "dynamodb": e.DynamoDB, "firehose": e.Firehose, "s3": e.S3} {
		if !isLoopback(u) {
			return fmt.Errorf("local: aws.endpoints.%s is %q; local commands only run against loopback endpoints", name, u)
		}
	}
	ctx := context.Background()
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return err
	}
	s3c := s3.NewFromConfig(ac, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(e.S3)
		o.UsePathStyle = true
		// s3-local sends no response checksums; the SDK would log that on
		// every GetObject.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	switch args[0] {
	case "setup":
		return localSetup(ctx, stdout, cfg, ac, s3c, *bucket, int32(*shards), *interval)
	case "report":
		if err := localReport(ctx, stdout, cfg, s3c, *bucket, *idField, *expect, *timeout, *sample); err != nil {
			return err
		}
		return localWindowReport(ctx, stdout, cfg, s3c, *bucket, *windowSum, *timeout, *sample)
	}
	fmt.Fprintf(stderr, "local: unknown subcommand %q (want setup or report)\n", args[0])
	return errUsage
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// localSetup (re)creates the stream, lease table, bucket prefix and delivery
// streams so that a demo run starts from nothing.
func localSetup(ctx context.Context, w io.Writer, cfg *pipeline.Config, ac aws.Config, s3c *s3.Client, bucket string, shards int32, interval time.Duration) error {
	e := cfg.AWS.Endpoints
	kc := kinesis.NewFromConfig(ac, func(o *kinesis.Options) { o.BaseEndpoint = aws.String(e.Kinesis) })
	ddb := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
	fh := firehose.NewFromConfig(ac, func(o *firehose.Options) { o.BaseEndpoint = aws.String(e.Firehose) })
	stream := cfg.Source.Stream

	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err == nil {
		if err := kinesis.NewStreamNotExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, time.Minute); err != nil {
			return fmt.Errorf("local: wait for stream %s to go: %w", stream, err)
		}
	} else if !isNotFound(err) {
		return fmt.Errorf("local: delete stream %s: %w", stream, err)
	}
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
		return fmt.Errorf("local: create stream %s: %w", stream, err)
	}
	if err := kinesis.NewStreamExistsWaiter(kc).Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, time.Minute); err != nil {
		return fmt.Errorf("local: wait for stream %s: %w", stream, err)
	}
	fmt.Fprintf(w, "kinesis stream %s: %d shards, ACTIVE\n", stream, shards)

	table := cfg.Source.Checkpoints.Table
	if _, err := ddb.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); err == nil {
		if err := dynamodb.NewTableNotExistsWaiter(ddb).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
			return fmt.Errorf("local: wait for lease table %s to go: %w", table, err)
		}
		fmt.Fprintf(w, "lease table %s: deleted (the pipeline recreates it)\n", table)
	} else if !isNotFound(err) {
		return fmt.Errorf("local: delete lease table %s: %w", table, err)
	}

	if cfg.Source.Checkpoints.Type == "redis" {
		n, err := clearRedisLeases(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "redis lease and window keys of %s: %d deleted\n", cfg.Name, n)
	}

	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		var owned *s3types.BucketAlreadyOwnedByYou
		var exists *s3types.BucketAlreadyExists
		if !errors.As(err, &owned) && !errors.As(err, &exists) {
			return fmt.Errorf("local: create bucket %s: %w", bucket, err)
		}
	}
	outs := append([]pipeline.OutputConfig(nil), cfg.Outputs...)
	for _, wc := range cfg.Windows {
		outs = append(outs, wc.Output)
	}
	for _, o := range outs {
		if o.Firehose == nil {
			continue
		}
		name := o.Firehose.DeliveryStream
		if _, err := fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(name)}); err != nil && !isNotFound(err) {
			return fmt.Errorf("local: delete delivery stream %s: %w", name, err)
		}
		n, err := emptyPrefix(ctx, s3c, bucket, name+"/")
		if err != nil {
			return err
		}
		if err := delivered.CreateDeliveryStream(ctx, fh, name, bucket, interval); err != nil {
			return fmt.Errorf("local: %w", err)
		}
		fmt.Fprintf(w, "firehose delivery stream %s → s3://%s/%s/ (removed %d old objects), ACTIVE\n", name, bucket, name, n)
	}
	return nil
}

func emptyPrefix(ctx context.Context, c *s3.Client, bucket, prefix string) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("local: list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				return n, fmt.Errorf("local: delete s3://%s/%s: %w", bucket, aws.ToString(o.Key), err)
			}
			n++
		}
	}
	return n, nil
}

func isNotFound(err error) bool {
	var k *kintypes.ResourceNotFoundException
	var d *ddbtypes.ResourceNotFoundException
	var f *fhtypes.ResourceNotFoundException
	return errors.As(err, &k) || errors.As(err, &d) || errors.As(err, &f)
}

// localReport prints what each delivery stream wrote to S3, waiting for
// --expect distinct ids if given.
func localReport(ctx context.Context, w io.Writer, cfg *pipeline.Config, s3c *s3.Client, bucket, idField string, expect int, timeout time.Duration, sample int) error {
	deadline := time.Now().Add(timeout)
	for _, o := range cfg.Outputs {
		if o.Firehose == nil {
			continue
		}
		prefix := o.Firehose.DeliveryStream + "/"
		var res *delivered.Result
		for {
			var err error
			res, err = delivered.Collect(ctx, s3c, bucket, prefix, idField, sample)
			if err != nil {
				return err
			}
			if len(res.IDs) >= expect || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		fmt.Fprintf(w, "\ns3://%s/%s — %d objects\n", bucket, prefix, len(res.Objects))
		for i, obj := range res.Objects {
			if i == 8 {
				fmt.Fprintf(w, "  … and %d more\n", len(res.Objects)-i)
				break
			}
			fmt.Fprintf(w, "  %-100s %8d bytes %6d rows\n", obj.Key, obj.Size, obj.Rows)
		}
		fmt.Fprintf(w, "rows: %d, distinct %s: %d, duplicates: %d, unreadable lines: %d\n",
			res.Rows, idField, len(res.IDs), res.Duplicates(), res.BadLines)
		for _, s := range res.Sample {
			fmt.Fprintf(w, "  %s\n", s)
		}
		if expect > 0 && len(res.IDs) < expect {
			return fmt.Errorf("local report: %d of %d expected rows arrived in s3://%s/%s within %s", len(res.IDs), expect, bucket, prefix, timeout)
		}
	}
	return nil
}

// localWindowReport prints each window output's rows (counted once per
// row_id) and, with sum "FIELD=N", waits until FIELD sums to N over them.
func localWindowReport(ctx context.Context, w io.Writer, cfg *pipeline.Config, s3c *s3.Client, bucket, sum string, timeout time.Duration, sample int) error {
	field, want := "", 0.0
	if sum != "" {
		f, n, ok := strings.Cut(sum, "=")
		v, err := strconv.ParseFloat(n, 64)
		if !ok || err != nil {
			return fmt.Errorf("local report: --window-sum %q: want FIELD=N", sum)
		}
		field, want = f, v
	}
	deadline := time.Now().Add(timeout)
	for _, wc := range cfg.Windows {
		if wc.Output.Firehose == nil {
			continue
		}
		prefix := wc.Output.Firehose.DeliveryStream + "/"
		var rows []map[string]any
		var total float64
		var res *delivered.Result
		for {
			var err error
			if res, err = delivered.Collect(ctx, s3c, bucket, prefix, "row_id", 1<<30); err != nil {
				return err
			}
			rows, total = latestRows(res.Sample, field)
			if field == "" || total >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		fmt.Fprintf(w, "\nwindow %s → s3://%s/%s — %d objects, %d window rows (%d re-emissions of the same row_id)\n",
			wc.Name, bucket, prefix, len(res.Objects), len(rows), res.Rows-len(rows))
		if field != "" {
			fmt.Fprintf(w, "sum of %s over the window rows: %.0f (events counted once each: want %.0f)\n", field, total, want)
		}
		for i := 0; i < sample && i < len(rows); i++ {
			b, _ := json.Marshal(rows[i])
			fmt.Fprintf(w, "  %s\n", b)
		}
		if field != "" && total != want {
			return fmt.Errorf("local report: window %s: %s sums to %.0f, want %.0f", wc.Name, field, total, want)
		}
	}
	return nil
}

// latestRows keeps one row per row_id (the highest revision, if any), in
// window order, and sums field over them.
func latestRows(lines []string, field string) ([]map[string]any, float64) {
	byID := map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			continue
		}
		id, _ := m["row_id"].(string)
		if old, ok := byID[id]; ok {
			r0, _ := old["revision"].(float64)
			r1, _ := m["revision"].(float64)
			if r1 <= r0 {
				continue
			}
		}
		byID[id] = m
	}
	rows := make([]map[string]any, 0, len(byID))
	total := 0.0
	for _, m := range byID {
		rows = append(rows, m)
		if v, ok := m[field].(float64); ok {
			total += v
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		a, _ := rows[i]["window_start"].(string)
		b, _ := rows[j]["window_start"].(string)
		if a != b {
			return a < b
		}
		return fmt.Sprint(rows[i]["row_id"]) < fmt.Sprint(rows[j]["row_id"])
	})
	return rows, total
}

// clearRedisLeases deletes the pipeline's lease keys (they share one hash
// tag, see checkpoints/redis) and its window state, so a re-created stream
// starts from scratch.
func clearRedisLeases(ctx context.Context, cfg *pipeline.Config) (int, error) {
	if len(cfg.Redis.ClusterAddrs) > 0 {
		return 0, fmt.Errorf("local: redis.cluster_addrs is not a local stack")
	}
	rc, err := pipeline.RedisClient(cfg.Redis)
	if err != nil {
		return 0, fmt.Errorf("local: %w", err)
	}
	defer rc.Close()
	n := 0
	for _, pattern := range []string{cfg.Redis.KeyPrefix + ":{" + cfg.Name + "}:*", cfg.Redis.KeyPrefix + ":win:{" + cfg.Name + ":*"} {
		iter := rc.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			if err := rc.Del(ctx, iter.Val()).Err(); err != nil {
				return n, fmt.Errorf("local: delete %s: %w", iter.Val(), err)
			}
			n++
		}
		if err := iter.Err(); err != nil {
			return n, fmt.Errorf("local: scan %s: %w", pattern, err)
		}
	}
	return n, nil
}

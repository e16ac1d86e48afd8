package lakehouse_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/firehoselocal"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

const role = "arn:aws:iam::000000000000:role/firehose"

// TestFirehoseConversionAndPartitioningReadByDuckDB: events go through
// `shardflow run` (in process) to two delivery streams of firehose-local,
// one converting to Parquet with the Glue table the Terraform example
// creates (deploy/terraform/examples/clickstream/glue/events.json, the real
// 64 MiB minimum buffer), one partitioned by country with a jq query over
// shardflow's packed NDJSON (record deaggregation). DuckDB reads both back:
// types (INT96 timestamps as TIMESTAMP), partition columns, counts and sums.
// A record that does not convert and one without a partition key land
// under the error prefix.
func TestFirehoseConversionAndPartitioningReadByDuckDB(t *testing.T) {
	const events = 3000
	env := testenv.Load(t)
	name := testenv.UniqueName(t, "fh")
	ctx := context.Background()

	// The Glue table, from the file Terraform creates the real one from.
	glue := t.TempDir()
	def, err := os.ReadFile("../../deploy/terraform/examples/clickstream/glue/events.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(glue, "analytics"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(glue, "analytics", "events.json"), def, 0o644); err != nil {
		t.Fatal(err)
	}
	s3c := env.S3(t)
	srv, err := firehoselocal.New(firehoselocal.Config{S3: s3c, GlueTablesDir: glue,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(c)
	})
	fh := firehose.NewFromConfig(env.AWSConfig(), func(o *firehose.Options) { o.BaseEndpoint = aws.String(hs.URL) })
	bucket := "arn:aws:s3:::" + env.S3Bucket
	hints := &types.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(1)}
	create := func(stream string, c *types.ExtendedS3DestinationConfiguration) {
		t.Helper()
		c.RoleARN, c.BucketARN, c.BufferingHints = aws.String(role), aws.String(bucket), hints
		if _, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(stream), ExtendedS3DestinationConfiguration: c}); err != nil {
			t.Fatalf("create %s: %v", stream, err)
		}
		waitFor(t, stream+" ACTIVE", 5*time.Second, func() bool {
			out, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
			return err == nil && out.DeliveryStreamDescription.DeliveryStreamStatus == types.DeliveryStreamStatusActive
		})
	}
	pq, dp := name+"-pq", name+"-dp"
	create(pq, &types.ExtendedS3DestinationConfiguration{
		Prefix:            aws.String(name + "/events/dt=!{timestamp:yyyy-MM-dd}/hr=!{timestamp:HH}/"),
		ErrorOutputPrefix: aws.String(name + "/errors/!{firehose:error-output-type}/"),
		CompressionFormat: types.CompressionFormatUncompressed,
		DataFormatConversionConfiguration: &types.DataFormatConversionConfiguration{
			Enabled: aws.Bool(true),
			SchemaConfiguration: &types.SchemaConfiguration{DatabaseName: aws.String("analytics"), TableName: aws.String("events"),
				RoleARN: aws.String(role)},
			InputFormatConfiguration:  &types.InputFormatConfiguration{Deserializer: &types.Deserializer{OpenXJsonSerDe: &types.OpenXJsonSerDe{}}},
			OutputFormatConfiguration: &types.OutputFormatConfiguration{Serializer: &types.Serializer{ParquetSerDe: &types.ParquetSerDe{Compression: types.ParquetCompressionSnappy}}},
		},
	})
	create(dp, &types.ExtendedS3DestinationConfiguration{
		Prefix:                           aws.String(name + "/by-country/c=!{partitionKeyFromQuery:country}/"),
		ErrorOutputPrefix:                aws.String(name + "/errors/!{firehose:error-output-type}/"),
		DynamicPartitioningConfiguration: &types.DynamicPartitioningConfiguration{Enabled: aws.Bool(true)},
		ProcessingConfiguration: &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{
			{Type: types.ProcessorTypeRecordDeAggregation, Parameters: []types.ProcessorParameter{
				{ParameterName: types.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("JSON")}}},
			{Type: types.ProcessorTypeMetadataExtraction, Parameters: []types.ProcessorParameter{
				{ParameterName: types.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{country: .country}")},
				{ParameterName: types.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}},
			{Type: types.ProcessorTypeAppendDelimiterToRecord},
		}},
	})

	stream := name + "-in"
	testenv.CreateStream(t, env.Kinesis(t), stream, 2)
	if _, err := produce.Put(ctx, env.Kinesis(t), workload.New(workload.Config{Seed: 23, Total: events}),
		produce.Options{Stream: stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	var wantCents int64
	wantByCountry := map[string]int64{}
	gen := workload.New(workload.Config{Seed: 23, Total: events})
	for range events {
		e := gen.Next()
		wantCents += int64(math.Round(e.Price * 100))
		wantByCountry[e.Country]++
	}
	yaml := fmt.Sprintf(`
name: %s
aws:
  region: %s
  endpoints: {kinesis: %s, dynamodb: %s, firehose: %s, s3: %s}
redis: {url: "%s", key_prefix: "sf-%s"}
source:
  stream: %s
  lease_duration: 4s
  shard_sync_interval: 250ms
  idle_time_between_reads: 200ms
  checkpoint_interval: 200ms
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64}
  - {name: user_agent, type: string}
transforms:
  - derive: {name: price_cents, type: float64, expr: "price * 100"}
outputs:
  - name: parquet
    firehose: {delivery_stream: %s, linger: 100ms}
  - name: by_country
    firehose: {delivery_stream: %s, linger: 100ms, max_rows_per_record: 500}
dead_letter:
  file: %s
shutdown_timeout: 15s
ops: {listen: "off"}
`, name, env.Region, env.KinesisEndpoint, env.DynamoDBEndpoint, hs.URL, env.S3Endpoint, env.RedisURL, name, stream,
		pq, dp, filepath.Join(t.TempDir(), "dead.ndjson"))
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	p, err := pipeline.New(runCtx, plan, pipeline.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkerID: "lake"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("pipeline: %v", err)
		}
	}()

	// Two records from another producer, straight to the streams: one
	// that does not fit the table, one without a partition key.
	if _, err := fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(pq),
		Record: &types.Record{Data: []byte(`{"event_id":"bad","price":"a lot"}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String(dp),
		Record: &types.Record{Data: []byte(`{"event_id":"homeless"}`)}}); err != nil {
		t.Fatal(err)
	}

	db := openDuckDB(t)
	pqDir, dpDir := t.TempDir(), t.TempDir()
	var rows int64
	waitFor(t, "every event as Parquet and partitioned", 90*time.Second, func() bool {
		mirror(t, s3c, env.S3Bucket, name+"/events/", pqDir)
		mirror(t, s3c, env.S3Bucket, name+"/by-country/", dpDir)
		var a, b int64
		if m, _ := filepath.Glob(filepath.Join(pqDir, "dt=*", "hr=*", "*")); len(m) > 0 {
			queryRow(t, db, "SELECT count(*) FROM "+parquetScan(pqDir), &a)
		}
		if m, _ := filepath.Glob(filepath.Join(dpDir, "c=*", "*")); len(m) > 0 {
			queryRow(t, db, "SELECT count(*) FROM "+jsonScan(dpDir), &b)
		}
		rows = a
		return a >= events && b >= events
	})

	types := columnTypes(t, db, "SELECT * FROM "+parquetScan(pqDir))
	for col, typ := range map[string]string{"event_id": "VARCHAR", "ts": "TIMESTAMP", "price": "DOUBLE", "price_cents": "DOUBLE",
		"plan": "VARCHAR", "dt": "DATE", "hr": "BIGINT"} {
		if types[col] != typ {
			t.Errorf("Parquet column %s is %q in DuckDB, want %s (all: %v)", col, types[col], typ, types)
		}
	}
	var distinct, cents, wrongHour, badCents int64
	queryRow(t, db, "SELECT count(DISTINCT event_id), sum(CAST(round(price * 100) AS BIGINT)), "+
		"count(*) FILTER (WHERE plan IS NOT NULL), count(*) FILTER (WHERE round(price_cents) <> round(price * 100)) FROM "+parquetScan(pqDir),
		&distinct, &cents, &wrongHour, &badCents)
	if rows != events || distinct != events || cents != wantCents || wrongHour != 0 || badCents != 0 {
		t.Errorf("Parquet: %d rows, %d distinct, %d cents (want %d rows and %d cents), %d rows with a plan (no column made it), %d bad price_cents",
			rows, distinct, cents, events, wantCents, wrongHour, badCents)
	}
	var mismatched int64
	queryRow(t, db, "SELECT count(*) FILTER (WHERE c <> country) FROM "+jsonScan(dpDir), &mismatched)
	res, err := db.Query("SELECT c, count(*) FROM " + jsonScan(dpDir) + " GROUP BY c")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for res.Next() {
		var c string
		var n int64
		if err := res.Scan(&c, &n); err != nil {
			t.Fatal(err)
		}
		got[c] = n
	}
	res.Close()
	if mismatched != 0 || fmt.Sprint(got) != fmt.Sprint(wantByCountry) {
		t.Errorf("partitions: %d rows under another country's prefix; counts %v, want %v", mismatched, got, wantByCountry)
	}
	for errType, raw := range map[string]string{"format-conversion-failed": `"event_id":"bad"`, "partitioning-failed": `"event_id":"homeless"`} {
		errDir := t.TempDir()
		waitFor(t, errType+" object", 10*time.Second, func() bool {
			return mirror(t, s3c, env.S3Bucket, name+"/errors/"+errType+"/", errDir) > 0
		})
		var rawData string
		queryRow(t, db, "SELECT decode(from_base64(rawData)) FROM read_json_auto("+sqlString(filepath.Join(errDir, "**", "*"))+")", &rawData)
		if !strings.Contains(rawData, raw) {
			t.Errorf("%s: rawData %q, want the record %s", errType, rawData, raw)
		}
	}
	t.Logf("DuckDB: %d Parquet rows (%d distinct, types %v); %d partitioned rows over %d countries", rows, distinct, types, events, len(got))
}

func parquetScan(dir string) string {
	return "read_parquet(" + sqlString(filepath.Join(dir, "**", "*")) + ", hive_partitioning = true)"
}

func jsonScan(dir string) string {
	return "read_json_auto(" + sqlString(filepath.Join(dir, "**", "*")) + ", hive_partitioning = true, format = 'newline_delimited')"
}

package pipeline_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/jackc/pgx/v5"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
)

// TestPipelineToRedshiftUnderFaults: the pipeline writes CSV rows through a
// Firehose Redshift destination (firehose-local stages to S3 and COPYs into
// the stack's PostgreSQL) while 20% of records are throttled and 5% of calls
// fail: the table ends with every event exactly once.
func TestPipelineToRedshiftUnderFaults(t *testing.T) {
	const events = 3000
	s := newStack(t, 2)
	ctx := context.Background()
	dbURL := s.env.PostgresDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE clicks (event_id text, user_id text, page text, country text,
		ts timestamp, price double precision, user_agent text)`); err != nil {
		t.Fatal(err)
	}

	stream := s.delivery + "-rs"
	fh := s.env.Firehose(t)
	_, err = fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(stream),
		RedshiftDestinationConfiguration: &fhtypes.RedshiftDestinationConfiguration{
			RoleARN:        aws.String("arn:aws:iam::000000000000:role/firehose-local"),
			ClusterJDBCURL: aws.String("jdbc:redshift://local.abc123.us-east-1.redshift.amazonaws.com:5439/" + dbName),
			CopyCommand:    &fhtypes.CopyCommand{DataTableName: aws.String("clicks"), CopyOptions: aws.String("CSV")},
			Username:       aws.String("firehose"),
			Password:       aws.String("Passw0rd!"),
			RetryOptions:   &fhtypes.RedshiftRetryOptions{DurationInSeconds: aws.Int32(60)},
			S3Configuration: &fhtypes.S3DestinationConfiguration{
				BucketARN:      aws.String("arn:aws:s3:::" + s.env.S3Bucket),
				RoleARN:        aws.String("arn:aws:iam::000000000000:role/firehose-local"),
				Prefix:         aws.String(stream + "/"),
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(1)},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = fh.DeleteDeliveryStream(context.Background(), &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
	})
	waitFor(t, "the Redshift delivery stream to be ACTIVE", 30*time.Second, func() bool {
		out, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(stream)})
		return err == nil && out.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive
	})
	saved := s.delivery
	s.delivery = stream // setFaults targets s.delivery
	s.setFaults(t, `{"throttle_fraction": 0.2, "fail_call_fraction": 0.05, "seed": 4}`)
	s.delivery = saved

	gen := workload.New(workload.Config{Seed: 21, Total: events})
	if _, err := produce.Put(ctx, s.env.Kinesis(t), gen, produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t)
	cfg.Outputs[0].Firehose.DeliveryStream = stream
	cfg.Outputs[0].Firehose.Format = "csv"
	cfg.Source.MaxRecords = 100
	// Linger 0: every read batch goes out as its own call, so there are
	// dozens of calls and the injected faults bite.
	cfg.Outputs[0].Firehose.Linger = 0
	_, stop := runPipeline(t, cfg, "redshift")
	var total, distinct int
	waitFor(t, "every event in PostgreSQL", 90*time.Second, func() bool {
		err := db.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id) FROM clicks").Scan(&total, &distinct)
		return err == nil && distinct >= events
	})
	c := stop()
	time.Sleep(2 * time.Second) // any late duplicate load would land by now
	if err := db.QueryRow(ctx, "SELECT count(*), count(DISTINCT event_id) FROM clicks").Scan(&total, &distinct); err != nil {
		t.Fatal(err)
	}
	f := c.Firehose[0]
	t.Logf("PostgreSQL: %d rows, %d distinct; firehose: %d calls, %d retries, %d records resent", total, distinct, f.Calls, f.Retries, f.FailedRecords)
	if f.Retries == 0 {
		t.Fatalf("no fault was seen (%+v): the test proves nothing", f)
	}
	if total != events || distinct != events {
		t.Fatalf("table has %d rows (%d distinct), want exactly %d", total, distinct, events)
	}
	// Values survive CSV → COPY: check one row against the generator.
	first := workload.New(workload.Config{Seed: 21, Total: events}).Next()
	var country string
	var price float64
	var ts time.Time
	if err := db.QueryRow(ctx, "SELECT country, price, ts FROM clicks WHERE event_id = $1", first.ID()).Scan(&country, &price, &ts); err != nil {
		t.Fatal(err)
	}
	if country != first.Country || price != first.Price || !ts.Equal(first.TS.Truncate(time.Microsecond)) {
		t.Fatalf("row %s = (%s, %v, %v), want (%s, %v, %v)", first.ID(), country, price, ts, first.Country, first.Price, first.TS)
	}
}

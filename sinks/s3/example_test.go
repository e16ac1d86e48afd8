package s3_test

import (
	"context"
	"log"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/flow"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// Example writes hourly-partitioned Parquet files under
// s3://analytics/clicks/dt=…/hr=…/ by event time, rolling every 64 MiB or
// 2 minutes. Each ack arrives once its rows are in an uploaded file.
func Example() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	var schema *arrow.Schema // the pipeline's decoded schema, with a timestamp[us] column "ts"
	out, err := s3out.New(s3out.Options{
		Client:       s3.NewFromConfig(cfg),
		Bucket:       "analytics",
		Prefix:       "clicks/",
		Schema:       schema,
		Compression:  "zstd",
		PartitionBy:  "event:ts",
		RollBytes:    64 << 20,
		RollInterval: 2 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	var batch *flow.Batch // from the consumer
	if err := out.Write(context.Background(), batch, func(err error) {
		// nil: durable in S3; the checkpoint may pass these rows.
	}); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
}

package delivered

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// CreateDeliveryStream creates a DirectPut delivery stream that writes to
// s3://bucket/<name>/YYYY/MM/DD/HH/ with the given buffering interval and a
// 1 MiB size hint, and waits until it is ACTIVE.
func CreateDeliveryStream(ctx context.Context, fh *firehose.Client, name, bucket string, interval time.Duration) error {
	_, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String(name),
		DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::" + bucket),
			RoleARN:   aws.String("arn:aws:iam::000000000000:role/firehose-local"),
			Prefix:    aws.String(name + "/"),
			BufferingHints: &fhtypes.BufferingHints{
				SizeInMBs:         aws.Int32(1),
				IntervalInSeconds: aws.Int32(int32(interval / time.Second)),
			},
		},
	})
	if err != nil {
		return fmt.Errorf("delivered: create delivery stream %s: %w", name, err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("delivered: describe delivery stream %s: %w", name, err)
		}
		if out.DeliveryStreamDescription.DeliveryStreamStatus == fhtypes.DeliveryStreamStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delivered: delivery stream %s still %s after 1m", name, out.DeliveryStreamDescription.DeliveryStreamStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

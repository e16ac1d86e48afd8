package testenv

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// streamActiveTimeout bounds the wait for a new stream to become ACTIVE.
const streamActiveTimeout = 30 * time.Second

// CreateStream creates a Kinesis stream with the given number of shards,
// waits (bounded) until it is ACTIVE and deletes it at cleanup.
func CreateStream(tb testing.TB, c *kinesis.Client, name string, shards int32) {
	tb.Helper()
	ctx, cancel := cleanupContext()
	defer cancel()
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	})
	if err != nil {
		tb.Fatalf("testenv: CreateStream %s (%d shards): %v", name, shards, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{
			StreamName:              aws.String(name),
			EnforceConsumerDeletion: aws.Bool(true),
		})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			tb.Errorf("testenv: DeleteStream %s: %v", name, err)
		}
	})

	deadline := time.Now().Add(streamActiveTimeout)
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			tb.Fatalf("testenv: DescribeStreamSummary %s: %v", name, err)
		}
		status := out.StreamDescriptionSummary.StreamStatus
		if status == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testenv: stream %s still %s after %v", name, status, streamActiveTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

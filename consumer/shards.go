package consumer

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Shard is one shard of the stream.
type Shard struct {
	ID string
	// Closed shards were split or merged: they have an ending sequence
	// number and will reach SHARD_END.
	Closed bool
}

// Shards lists the stream's shards, open and closed ones still in
// retention, with one ListShards call per page.
func (c *Consumer) Shards(ctx context.Context) ([]Shard, error) {
	var shards []Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(c.cfg.Stream)}
	for {
		out, err := c.kc.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("consumer: list shards of %s: %w", c.cfg.Stream, err)
		}
		for _, s := range out.Shards {
			closed := s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil
			shards = append(shards, Shard{ID: aws.ToString(s.ShardId), Closed: closed})
		}
		if out.NextToken == nil {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

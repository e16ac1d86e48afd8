package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/pipeline"
)

// kinesisClient is the pipeline's Kinesis client for a command: the
// pipeline's region and credentials chain, its endpoint override if any.
func kinesisClient(ctx context.Context, cfg *pipeline.Config) (*kinesis.Client, error) {
	ac, err := pipeline.LoadAWS(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return kinesisFromAWS(ac, cfg), nil
}

func kinesisFromAWS(ac aws.Config, cfg *pipeline.Config) *kinesis.Client {
	return kinesis.NewFromConfig(ac, func(o *kinesis.Options) {
		if cfg.AWS.Endpoints.Kinesis != "" {
			o.BaseEndpoint = aws.String(cfg.AWS.Endpoints.Kinesis)
		}
	})
}

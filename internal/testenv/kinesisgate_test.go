package testenv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestKinesisGate: through the gate a real client reads kinesalite; a held
// shard's GetRecords does not answer (the other shard's does) until the
// gate is released, and then returns the shard's records.
func TestKinesisGate(t *testing.T) {
	env := testenv.Load(t)
	direct := env.Kinesis(t)
	stream := testenv.UniqueName(t, "gate")
	testenv.CreateStream(t, direct, stream, 2)
	g := testenv.NewKinesisGate(t, env.KinesisEndpoint)
	kc := kinesis.NewFromConfig(env.AWSConfig(), func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(g.URL())
		o.RetryMaxAttempts = 1
	})
	ctx := context.Background()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	iters := map[string]*string{}
	for _, s := range shards.Shards {
		if _, err := direct.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), Data: []byte("x"),
			PartitionKey: aws.String("k"), ExplicitHashKey: s.HashKeyRange.StartingHashKey}); err != nil {
			t.Fatal(err)
		}
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iters[aws.ToString(s.ShardId)] = it.ShardIterator
	}
	held, free := aws.ToString(shards.Shards[0].ShardId), aws.ToString(shards.Shards[1].ShardId)
	g.Hold(held)
	out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iters[free]})
	if err != nil || len(out.Records) != 1 {
		t.Fatalf("GetRecords of the free shard %s: %v, %v records; want 1", free, err, len(out.Records))
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = kc.GetRecords(short, &kinesis.GetRecordsInput{ShardIterator: iters[held]})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetRecords of the held shard %s answered (%v); want it held until the deadline", held, err)
	}
	if g.HeldCalls() != 1 {
		t.Fatalf("%d calls held, want 1", g.HeldCalls())
	}
	done := make(chan error, 1)
	go func() {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iters[held]})
		if err == nil && len(out.Records) != 1 {
			err = errors.New("no record")
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("held GetRecords answered before the release: %v", err)
	default:
	}
	g.Release(held)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("GetRecords after the release: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("GetRecords still held 10s after the release")
	}
}

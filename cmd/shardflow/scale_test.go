package main

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/internal/testenv"
)

// scale --dry-run reports ceil(open shards / per task) against kinesalite,
// before and after a shard split.
func TestScaleDryRunFollowsShardCount(t *testing.T) {
	e := testenv.Load(t)
	kc := e.Kinesis(t)
	stream := testenv.UniqueName(t, "scale")
	testenv.CreateStream(t, kc, stream, 4)
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	yaml := fmt.Sprintf(`
name: scale
aws: {region: %s, endpoints: {kinesis: %s}}
redis: {url: "%s"}
source: {stream: %s}
schema: [{name: a, type: string}]
outputs: [{name: o, firehose: {delivery_stream: d}}]
`, e.Region, e.KinesisEndpoint, e.RedisURL, stream)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	scale := func() string {
		t.Helper()
		code, out, errOut := runCLI("scale", "-c", cfg, "--max-shards-per-task", "3", "--dry-run")
		if code != 0 {
			t.Fatalf("scale: code %d: %s", code, errOut)
		}
		return out
	}
	if out := scale(); !strings.Contains(out, "4 open shards, 3 per task → desired count 2") {
		t.Fatalf("before split: %q", out)
	}
	ctx := context.Background()
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards.Shards[:3] {
		lo, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
		if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: sh.ShardId,
			NewStartingHashKey: aws.String(mid.String())}); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			if err == nil && d.StreamDescriptionSummary.StreamStatus == "ACTIVE" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// 3 of 4 shards split: 7 open shards (the 3 parents are closed).
	if out := scale(); !strings.Contains(out, "7 open shards, 3 per task → desired count 3") {
		t.Fatalf("after splits: %q", out)
	}
	if code, _, _ := runCLI("scale", "-c", cfg); code != 2 {
		t.Fatalf("scale without --dry-run and without --cluster/--service: exit %d, want 2", code)
	}
}

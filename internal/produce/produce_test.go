package produce_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
)

// Put lands every event exactly once in the stream, plain or aggregated,
// with malformed records where asked: read the shard back and count.
func TestPutCountsEveryRecord(t *testing.T) {
	e := testenv.Load(t)
	kc := e.Kinesis(t)
	for _, tc := range []struct {
		name                  string
		count, malformed, agg int
	}{{"plain", 1203, 3, 0}, {"kpl", 1203, 3, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			stream := testenv.UniqueName(t, "produce")
			testenv.CreateStream(t, kc, stream, 1)
			sum, err := produce.Put(context.Background(), kc, workload.New(workload.Config{Seed: 1, Total: tc.count}),
				produce.Options{Stream: stream, Count: tc.count, Malformed: tc.malformed, Aggregate: tc.agg})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Events+sum.Malformed != tc.count || sum.Malformed != tc.malformed {
				t.Fatalf("summary %+v, want %d records with %d malformed", sum, tc.count, tc.malformed)
			}
			shards, err := kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
			if err != nil {
				t.Fatal(err)
			}
			it, err := kc.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
				StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId, ShardIteratorType: "TRIM_HORIZON"})
			if err != nil {
				t.Fatal(err)
			}
			events, records, aggregates := 0, 0, 0
			iter := it.ShardIterator
			for range 50 {
				out, err := kc.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range out.Records {
					records++
					subs, isAgg, err := kpl.Deaggregate(r.Data)
					if err != nil {
						t.Fatalf("record %d: %v", records, err)
					}
					if isAgg {
						aggregates++
						events += len(subs)
					} else {
						events++
					}
				}
				if len(out.Records) == 0 {
					break
				}
				iter = out.NextShardIterator
			}
			if events != tc.count {
				t.Fatalf("read back %d events in %d records, want %d", events, records, tc.count)
			}
			if tc.agg > 0 && aggregates != sum.Aggregates {
				t.Fatalf("read back %d aggregates, summary says %d", aggregates, sum.Aggregates)
			}
		})
	}
}

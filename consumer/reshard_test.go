package consumer_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/checkpoints"
	ddbstore "github.com/shardflow/shardflow/checkpoints/dynamodb"
	redisstore "github.com/shardflow/shardflow/checkpoints/redis"
	"github.com/shardflow/shardflow/consumer"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
)

// recorder is a Handler that notes when each record was handled, on which
// shard, and acks at once.
type recorder struct {
	mu      sync.Mutex
	n       int64 // handling order
	handled map[string][]handling
}

type handling struct {
	shard string
	order int64
}

func (r *recorder) HandleBatch(_ context.Context, shard string, recs []flow.SourceRecord, ack flow.Ack) error {
	r.mu.Lock()
	for _, rec := range recs {
		r.n++
		r.handled[string(rec.Data)] = append(r.handled[string(rec.Data)], handling{shard, r.n})
	}
	r.mu.Unlock()
	ack(nil)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handled)
}

type reshardEnv struct {
	t      *testing.T
	env    *testenv.Env
	kc     *kinesis.Client
	stream string
	app    string
	seq    int
	ids    []string
}

func newReshardEnv(t *testing.T, shards int32) *reshardEnv {
	env := testenv.Load(t)
	r := &reshardEnv{t: t, env: env, kc: env.Kinesis(t), app: testenv.UniqueName(t, "c")}
	r.stream = r.app + "-s"
	testenv.CreateStream(t, r.kc, r.stream, shards)
	return r
}

// put writes n records with spread partition keys; each record's data is
// its unique id.
func (r *reshardEnv) put(n int) {
	r.t.Helper()
	for n > 0 {
		k := min(n, 250)
		entries := make([]types.PutRecordsRequestEntry, k)
		for i := range entries {
			r.seq++
			id := fmt.Sprintf("rec-%06d", r.seq)
			r.ids = append(r.ids, id)
			entries[i] = types.PutRecordsRequestEntry{Data: []byte(id), PartitionKey: aws.String(fmt.Sprintf("pk-%d", r.seq*7919))}
		}
		out, err := r.kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(r.stream), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			r.t.Fatalf("put: %v (failed %d)", err, aws.ToInt32(out.FailedRecordCount))
		}
		n -= k
	}
}

func (r *reshardEnv) openShards() []types.Shard {
	r.t.Helper()
	out, err := r.kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(r.stream)})
	if err != nil {
		r.t.Fatal(err)
	}
	var open []types.Shard
	for _, s := range out.Shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	return open
}

func (r *reshardEnv) waitActive() {
	r.t.Helper()
	for range 200 {
		out, err := r.kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(r.stream)})
		if err != nil {
			r.t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("stream not ACTIVE after resharding")
}

// split splits the first open shard in the middle of its hash range.
func (r *reshardEnv) split() {
	r.t.Helper()
	s := r.openShards()[0]
	lo, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	_, err := r.kc.SplitShard(context.Background(), &kinesis.SplitShardInput{
		StreamName: aws.String(r.stream), ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String()),
	})
	if err != nil {
		r.t.Fatalf("split %s: %v", aws.ToString(s.ShardId), err)
	}
	r.waitActive()
}

// merge merges the first two open shards with adjacent hash ranges.
func (r *reshardEnv) merge() {
	r.t.Helper()
	open := r.openShards()
	for _, a := range open {
		end, _ := new(big.Int).SetString(aws.ToString(a.HashKeyRange.EndingHashKey), 10)
		for _, b := range open {
			start, _ := new(big.Int).SetString(aws.ToString(b.HashKeyRange.StartingHashKey), 10)
			if new(big.Int).Add(end, big.NewInt(1)).Cmp(start) == 0 {
				_, err := r.kc.MergeShards(context.Background(), &kinesis.MergeShardsInput{
					StreamName: aws.String(r.stream), ShardToMerge: a.ShardId, AdjacentShardToMerge: b.ShardId,
				})
				if err != nil {
					r.t.Fatalf("merge %s+%s: %v", aws.ToString(a.ShardId), aws.ToString(b.ShardId), err)
				}
				r.waitActive()
				return
			}
		}
	}
	r.t.Fatal("no adjacent open shards to merge")
}

func (r *reshardEnv) start(rec *recorder, storeKind string) *consumer.Consumer {
	r.t.Helper()
	c, err := consumer.New(consumer.Config{
		Application: r.app, Stream: r.stream, WorkerID: "w1", AWS: r.env.AWSConfig(), KinesisEndpoint: r.env.KinesisEndpoint,
		Store: newStore(r.t, r.env, storeKind, r.app), InitialPosition: "TRIM_HORIZON",
		LeaseDuration: 5 * time.Second, ShardSyncInterval: 200 * time.Millisecond, MaxRecords: 100,
		IdleTimeBetweenReads: 100 * time.Millisecond, MaxInFlightBatches: 4, CheckpointInterval: 0,
		Logger: slog.New(slog.NewTextHandler(testLog{r.t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}, rec)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			r.t.Errorf("stop: %v", err)
		}
	})
	return c
}

// newStore returns a fresh lease store of kind ("redis" or "dynamodb") for
// application app.
func newStore(t *testing.T, env *testenv.Env, kind, app string) checkpoints.Store {
	t.Helper()
	switch kind {
	case "dynamodb":
		table := app + "-leases"
		client := env.DynamoDB(t)
		s, err := ddbstore.New(context.Background(), client, table)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		})
		return s
	case "redis":
		rc, prefix := env.Redis(t)
		s, err := redisstore.New(rc, redisstore.Options{Prefix: prefix, Application: app})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// check waits until every record was handled, then asserts each was handled
// once and that, for every parent→child edge, all of the parent's records
// were handled before any of the child's.
func (r *reshardEnv) check(rec *recorder) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for rec.count() < len(r.ids) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	lastOf, firstOf := map[string]int64{}, map[string]int64{}
	for _, id := range r.ids {
		hs := rec.handled[id]
		if len(hs) != 1 {
			r.t.Fatalf("record %s handled %d times, want once (%d of %d records handled)", id, len(hs), len(rec.handled), len(r.ids))
		}
		h := hs[0]
		lastOf[h.shard] = max(lastOf[h.shard], h.order)
		if f, ok := firstOf[h.shard]; !ok || h.order < f {
			firstOf[h.shard] = h.order
		}
	}
	out, err := r.kc.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String(r.stream)})
	if err != nil {
		r.t.Fatal(err)
	}
	edges := 0
	for _, s := range out.Shards {
		child := aws.ToString(s.ShardId)
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			parent := aws.ToString(p)
			if parent == "" {
				continue
			}
			edges++
			cf, childHas := firstOf[child]
			pl, parentHas := lastOf[parent]
			if childHas && parentHas && cf < pl {
				r.t.Errorf("child %s's first record (#%d) was handled before parent %s's last (#%d)", child, cf, parent, pl)
			}
		}
	}
	r.t.Logf("%d records handled once each over %d shards; %d parent→child edges checked", len(r.ids), len(firstOf), edges)
	if edges < 3 {
		r.t.Fatalf("only %d parent→child edges; the test did not reshard as intended", edges)
	}
}

// Resharded (split, then a merge whose parents include a split child) before
// the consumer ever ran: the KCL alone would start children whose parents
// have no lease record yet, and waits only on ParentShardId.
func TestChildrenWaitForParentsWhenReshardedBeforeStart(t *testing.T) {
	for _, store := range []string{"redis", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			r := newReshardEnv(t, 2)
			r.put(300)
			r.split()
			r.put(300)
			r.merge()
			r.put(300)
			rec := &recorder{handled: map[string][]handling{}}
			r.start(rec, store)
			r.check(rec)
		})
	}
}

func TestChildrenWaitForParentsWhenReshardedWhileRunning(t *testing.T) {
	for _, store := range []string{"redis", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			r := newReshardEnv(t, 2)
			rec := &recorder{handled: map[string][]handling{}}
			r.put(200)
			r.start(rec, store)
			for rec.count() == 0 {
				time.Sleep(50 * time.Millisecond)
			}
			r.put(200)
			r.split()
			r.put(200)
			r.merge()
			r.put(200)
			r.check(rec)
		})
	}
}

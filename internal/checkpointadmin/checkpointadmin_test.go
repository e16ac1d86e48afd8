package checkpointadmin

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/internal/testenv"
)

func TestParsePosition(t *testing.T) {
	for in, want := range map[string]string{
		"trim_horizon": "trim_horizon", "TRIM_HORIZON": "trim_horizon", "latest": "latest",
		"at_timestamp=2026-11-22T10:00:00Z":        "at_timestamp=2026-11-22T10:00:00Z",
		"AT_TIMESTAMP=2026-11-22T11:00:00.5+01:00": "at_timestamp=2026-11-22T10:00:00.5Z",
		"sequence=4968079875870243476271091852":    "sequence=4968079875870243476271091852",
	} {
		p, err := ParsePosition(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "oldest", "latest=1", "at_timestamp", "at_timestamp=yesterday", "sequence=", "sequence=-1", "sequence=12a"} {
		if _, err := ParsePosition(bad); err == nil {
			t.Errorf("ParsePosition(%q) accepted", bad)
		}
	}
}

// TestRedisStoreRefusesLiveLeasesAndFencesOnRevoke works on hashes laid out
// as checkpoints/redis writes them.
func TestRedisStoreRefusesLiveLeasesAndFencesOnRevoke(t *testing.T) {
	env := testenv.Load(t)
	rc, prefix := env.Redis(t)
	ctx := context.Background()
	s := NewRedisStore(rc, strings.TrimSuffix(prefix, ":"), "app")
	now := time.Now()
	live := now.Add(5 * time.Second).UnixMilli()
	expired := now.Add(-5 * time.Second).UnixMilli()
	rc.HSet(ctx, s.leaseKey("shard-live"), "owner", "w1", "lease_timeout_ms", live, "token", 7, "checkpoint", "100")
	rc.HSet(ctx, s.leaseKey("shard-expired"), "owner", "w2", "lease_timeout_ms", expired, "token", 3, "checkpoint", "200")
	rc.HSet(ctx, s.leaseKey("shard-free"), "lease_timeout_ms", expired, "token", 1, "checkpoint", "300", "parent", "shard-0")
	rc.SAdd(ctx, s.shardsKey(), "shard-live", "shard-expired", "shard-free")

	leases, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Lease{}
	for _, l := range leases {
		got[l.Shard] = l
	}
	if l := got["shard-live"]; !l.Live(now) || l.Owner != "w1" || l.Checkpoint != "100" || l.Expires.UnixMilli() != live {
		t.Errorf("live lease read as %+v", l)
	}
	if l := got["shard-expired"]; l.Live(now) || l.Owner != "w2" {
		t.Errorf("expired lease read as %+v", l)
	}
	if l := got["shard-free"]; l.Live(now) || l.Owner != "" || l.Parent != "shard-0" {
		t.Errorf("free lease read as %+v", l)
	}

	if err := s.SetCheckpoint(ctx, got["shard-live"], "1", false, now); !errors.Is(err, ErrLeaseLive) {
		t.Errorf("write under a live lease: %v, want ErrLeaseLive", err)
	}
	if v := rc.HGet(ctx, s.leaseKey("shard-live"), "checkpoint").Val(); v != "100" {
		t.Errorf("refused write changed the checkpoint to %s", v)
	}
	for _, sh := range []string{"shard-expired", "shard-free"} {
		if err := s.SetCheckpoint(ctx, got[sh], "42", false, now); err != nil {
			t.Errorf("%s: %v", sh, err)
		}
		if v := rc.HGet(ctx, s.leaseKey(sh), "checkpoint").Val(); v != "42" {
			t.Errorf("%s: checkpoint %s, want 42", sh, v)
		}
	}
	// A lease renewed since it was read is not overwritten.
	stale := got["shard-expired"]
	stale.Expires = stale.Expires.Add(-time.Second)
	if err := s.SetCheckpoint(ctx, stale, "43", false, now); !errors.Is(err, ErrLeaseChanged) {
		t.Errorf("write over a changed lease: %v, want ErrLeaseChanged", err)
	}
	// Revoking: checkpoint written, owner gone, token moved on (the holder
	// with token 7 is fenced off).
	if err := s.SetCheckpoint(ctx, got["shard-live"], "55", true, now); err != nil {
		t.Fatal(err)
	}
	h := rc.HGetAll(ctx, s.leaseKey("shard-live")).Val()
	if h["checkpoint"] != "55" || h["owner"] != "" || h["token"] != "8" {
		t.Errorf("after revoke: %v, want checkpoint 55, no owner, token 8", h)
	}
	// A shard never leased gets a hash with its checkpoint, and joins the set.
	if err := s.SetCheckpoint(ctx, Lease{Shard: "shard-new"}, "7", false, now); err != nil {
		t.Fatal(err)
	}
	if v := rc.HGet(ctx, s.leaseKey("shard-new"), "checkpoint").Val(); v != "7" || !rc.SIsMember(ctx, s.shardsKey(), "shard-new").Val() {
		t.Errorf("new shard: checkpoint %q, in set %v", v, rc.SIsMember(ctx, s.shardsKey(), "shard-new").Val())
	}
}

// TestDynamoStoreConditionalWrites works on a table shaped like the KCL's.
func TestDynamoStoreConditionalWrites(t *testing.T) {
	env := testenv.Load(t)
	ddb := env.DynamoDB(t)
	ctx := context.Background()
	table := testenv.UniqueName(t, "leases")
	_, err := ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("ShardID"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("ShardID"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})
	if err := dynamodb.NewTableExistsWaiter(ddb, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).Wait(ctx,
		&dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	put := func(shard, owner string, timeout time.Time, cp string) {
		item := map[string]ddbtypes.AttributeValue{
			"ShardID": &ddbtypes.AttributeValueMemberS{Value: shard}, "Checkpoint": &ddbtypes.AttributeValueMemberS{Value: cp},
			"LeaseTimeout": &ddbtypes.AttributeValueMemberS{Value: timeout.Format(time.RFC3339Nano)},
		}
		if owner != "" {
			item["AssignedTo"] = &ddbtypes.AttributeValueMemberS{Value: owner}
		}
		if _, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put("shard-live", "w1", now.Add(5*time.Second), "100")
	put("shard-expired", "w2", now.Add(-5*time.Second), "200")
	s := NewDynamoStore(ddb, table)
	leases, err := s.List(ctx)
	if err != nil || len(leases) != 2 {
		t.Fatalf("List: %v, %v", leases, err)
	}
	expired, live := leases[0], leases[1] // by shard id
	if !live.Live(now) || expired.Live(now) {
		t.Fatalf("read %+v and %+v", live, expired)
	}
	if err := s.SetCheckpoint(ctx, live, "1", false, now); !errors.Is(err, ErrLeaseLive) {
		t.Errorf("write under a live lease: %v", err)
	}
	// Renewed by its (paused) owner since it was read: refused.
	put("shard-expired", "w2", now.Add(time.Second), "200")
	if err := s.SetCheckpoint(ctx, expired, "2", false, now); !errors.Is(err, ErrLeaseChanged) {
		t.Errorf("write over a renewed lease: %v, want ErrLeaseChanged", err)
	}
	leases, _ = s.List(ctx)
	if err := s.SetCheckpoint(ctx, leases[1], "3", true, now); err != nil {
		t.Fatal(err)
	}
	after, _ := s.List(ctx)
	if after[1].Checkpoint != "3" || after[1].Owner != "" {
		t.Errorf("after revoke: %+v, want checkpoint 3 and no AssignedTo", after[1])
	}
	if err := s.SetCheckpoint(ctx, Lease{Shard: "shard-new"}, "9", false, now); err != nil {
		t.Fatal(err)
	}
}

// TestResolverPositions reads a kinesalite stream: two batches around T,
// then a split that closes the parent.
func TestResolverPositions(t *testing.T) {
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	ctx := context.Background()
	stream := testenv.UniqueName(t, "pos")
	testenv.CreateStream(t, kc, stream, 1)
	put := func(tag string, n int) []string {
		var seqs []string
		for i := range n {
			out, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"),
				Data: []byte(tag + strconv.Itoa(i))})
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, aws.ToString(out.SequenceNumber))
		}
		return seqs
	}
	a := put("a", 5)
	time.Sleep(1100 * time.Millisecond)
	at := time.Now()
	time.Sleep(1100 * time.Millisecond)
	b := put("b", 3)

	res, err := NewResolver(ctx, kc, stream)
	if err != nil {
		t.Fatal(err)
	}
	res.ReadPause = 10 * time.Millisecond
	shards, err := ListShards(ctx, kc, stream)
	if err != nil || len(shards) != 1 {
		t.Fatalf("ListShards: %v %v", shards, err)
	}
	sh := shards[0]
	// first returns the data of the first record after checkpoint cp.
	first := func(cp string) string {
		out, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(sh.ID),
			ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(cp)})
		if err != nil {
			t.Fatalf("iterator after %s: %v", cp, err)
		}
		recs, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs.Records) == 0 {
			return ""
		}
		return string(recs.Records[0].Data)
	}
	check := func(p Position, wantCP, wantFirst string) {
		t.Helper()
		cp, err := res.Checkpoint(ctx, sh, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if wantCP != "" && cp != wantCP {
			t.Errorf("%s: checkpoint %s, want %s", p, cp, wantCP)
		}
		if got := first(cp); got != wantFirst {
			t.Errorf("%s: first record after checkpoint %s is %q, want %q", p, cp, got, wantFirst)
		}
	}
	check(Position{Kind: TrimHorizon}, sh.StartingSequence, "a0")
	check(Position{Kind: AtTimestamp, At: at}, a[4], "b0")
	check(Position{Kind: AtTimestamp, At: at.Add(-time.Hour)}, sh.StartingSequence, "a0")
	check(Position{Kind: Latest}, b[2], "")
	check(Position{Kind: AtSequence, Sequence: a[1]}, a[1], "a2")
	if _, err := res.Checkpoint(ctx, sh, Position{Kind: AtSequence, Sequence: "1"}); err == nil {
		t.Error("a sequence number not of this shard was accepted")
	}

	// A clock two hours ahead: the first probes ask for a time in the
	// future, which Kinesis refuses; the search widens and still finds the
	// last record (failed probes never conclude anything).
	ahead := *res
	ahead.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	check(Position{Kind: Latest}, b[2], "")

	// Split: the parent is closed; latest of a closed shard is SHARD_END,
	// a time before its last record is still a sequence number.
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: aws.String(sh.ID),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, kc, stream)
	shards, err = ListShards(ctx, kc, stream)
	if err != nil || len(shards) != 3 {
		t.Fatalf("after split: %v %v", shards, err)
	}
	parent := shards[0]
	if !parent.Closed {
		t.Fatalf("parent %+v not closed", parent)
	}
	if cp, err := res.Checkpoint(ctx, parent, Position{Kind: Latest}); err != nil || cp != ShardEnd {
		t.Errorf("latest of the closed parent: %q, %v; want SHARD_END", cp, err)
	}
	if cp, err := res.Checkpoint(ctx, parent, Position{Kind: AtTimestamp, At: at}); err != nil || cp != a[4] {
		t.Errorf("at_timestamp of the closed parent: %q, %v; want %s", cp, err, a[4])
	}
}

func waitActive(t *testing.T, kc *kinesis.Client, stream string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("stream %s not ACTIVE after the split", stream)
}

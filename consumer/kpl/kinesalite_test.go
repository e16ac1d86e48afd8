package kpl_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	deagg "github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shardflow/shardflow/consumer/kpl"
	"github.com/shardflow/shardflow/internal/testenv"
)

// aggregate builds a valid KPL aggregate (independently of kpl's decoder):
// sub-record i has data subs[i] and partition key keys[i % len(keys)].
func aggregate(keys []string, subs ...string) []byte {
	var body []byte
	for _, k := range keys {
		body = protowire.AppendTag(body, 1, protowire.BytesType)
		body = protowire.AppendString(body, k)
	}
	for i, s := range subs {
		var r []byte
		r = protowire.AppendTag(r, 1, protowire.VarintType)
		r = protowire.AppendVarint(r, uint64(i%len(keys)))
		r = protowire.AppendTag(r, 3, protowire.BytesType)
		r = protowire.AppendString(r, s)
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, r)
	}
	return frameBody(body)
}

func frameBody(body []byte) []byte {
	sum := md5.Sum(body)
	return append(append([]byte(kpl.Magic), body...), sum[:]...)
}

// want is one record the consumer must see, in order.
type want struct {
	put     int // index of the PutRecords entry it comes from
	data    string
	pk      string
	corrupt bool // a marked record whose raw bytes are data
}

// TestMiddlewareAgainstKinesalite: records put into a real (local) Kinesis
// and read back with GetRecords through a client with the middleware come
// out de-aggregated, in order, with their aggregate's sequence number; the
// corrupt aggregate comes out once, marked; and the KCL's own deaggregator
// then passes the whole batch through unchanged, where on the raw batch it
// fails.
func TestMiddlewareAgainstKinesalite(t *testing.T) {
	e := testenv.Load(t)
	plainClient := e.Kinesis(t)
	safe := kinesis.NewFromConfig(e.AWSConfig(), func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(e.KinesisEndpoint)
	}, kpl.WithSafeDeaggregation())
	stream := testenv.UniqueName(t, "kpl")
	testenv.CreateStream(t, plainClient, stream, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var b40 []string
	for i := range 40 {
		b40 = append(b40, fmt.Sprintf(`{"b":%d}`, i))
	}
	// Valid magic and MD5, malformed protobuf: a record field whose
	// partition_key_index varint is cut off.
	corrupt := frameBody([]byte{0x0a, 0x01, 'k', 0x1a, 0x01, 0x08})
	badMD5 := aggregate([]string{"x"}, "not really")
	badMD5[len(badMD5)-1] ^= 0xff
	puts := []struct {
		pk   string
		data []byte
	}{
		{"p", []byte(`{"plain":0}`)},
		{"agg-a", aggregate([]string{"a1", "a2"}, `{"a":0}`, `{"a":1}`, `{"a":2}`)},
		{"p", []byte(`{"plain":1}`)},
		{"agg-c", corrupt},
		{"agg-b", aggregate([]string{"b1", "b2", "b3"}, b40...)},
		{"p", badMD5},
		{"p", []byte(`{"plain":2}`)},
	}
	var wants []want
	for i, p := range puts {
		switch {
		case i == 1:
			for j, s := range []string{`{"a":0}`, `{"a":1}`, `{"a":2}`} {
				wants = append(wants, want{put: i, data: s, pk: []string{"a1", "a2"}[j%2]})
			}
		case i == 4:
			for j, s := range b40 {
				wants = append(wants, want{put: i, data: s, pk: []string{"b1", "b2", "b3"}[j%3]})
			}
		default:
			wants = append(wants, want{put: i, data: string(p.data), pk: p.pk, corrupt: i == 3})
		}
	}

	entries := make([]types.PutRecordsRequestEntry, len(puts))
	for i, p := range puts {
		entries[i] = types.PutRecordsRequestEntry{Data: p.data, PartitionKey: aws.String(p.pk)}
	}
	pr, err := plainClient.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(pr.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %d failed", aws.ToInt32(pr.FailedRecordCount))
	}
	seqs := make([]string, len(puts))
	for i, r := range pr.Records {
		seqs[i] = aws.ToString(r.SequenceNumber)
	}

	got := readShard(ctx, t, safe, stream, len(wants))
	raw := readShard(ctx, t, plainClient, stream, len(puts))

	if len(got) != len(wants) {
		t.Fatalf("read %d records through the middleware, want %d", len(got), len(wants))
	}
	corruptSeen := 0
	for i, w := range wants {
		r := got[i]
		if seq := aws.ToString(r.SequenceNumber); seq != seqs[w.put] {
			t.Errorf("record %d: sequence %s, want %s (put %d)", i, seq, seqs[w.put], w.put)
		}
		if pk := aws.ToString(r.PartitionKey); pk != w.pk {
			t.Errorf("record %d: partition key %q, want %q", i, pk, w.pk)
		}
		if !aws.ToTime(r.ApproximateArrivalTimestamp).Equal(aws.ToTime(raw[w.put].ApproximateArrivalTimestamp)) {
			t.Errorf("record %d: arrival %v, want the aggregate's %v", i, r.ApproximateArrivalTimestamp, raw[w.put].ApproximateArrivalTimestamp)
		}
		reason, orig, marked := kpl.ParseCorrupt(r.Data)
		if marked != w.corrupt {
			t.Errorf("record %d: marked=%v (%q), want %v", i, marked, reason, w.corrupt)
			continue
		}
		if marked {
			corruptSeen++
			if !bytes.Equal(orig, corrupt) {
				t.Errorf("record %d: marked record's raw bytes %x, want %x", i, orig, corrupt)
			}
			t.Logf("corrupt aggregate at %s: %s", seqs[w.put], reason)
			continue
		}
		if string(r.Data) != w.data {
			t.Errorf("record %d: data %q, want %q", i, r.Data, w.data)
		}
	}
	if corruptSeen != 1 {
		t.Errorf("corrupt aggregate seen %d times, want once", corruptSeen)
	}

	// The KCL runs this on what GetRecords returned: through the
	// middleware, all records pass unchanged.
	kclView, err := deagg.DeaggregateRecords(got)
	if err != nil {
		t.Fatalf("KCL deaggregator on the rewritten batch: %v", err)
	}
	if len(kclView) != len(got) {
		t.Fatalf("KCL deaggregator: %d records from %d", len(kclView), len(got))
	}
	for i := range got {
		a, b := kclView[i], got[i]
		if !bytes.Equal(a.Data, b.Data) || aws.ToString(a.SequenceNumber) != aws.ToString(b.SequenceNumber) ||
			aws.ToString(a.PartitionKey) != aws.ToString(b.PartitionKey) {
			t.Errorf("KCL deaggregator changed record %d", i)
		}
	}
	// Without the middleware, the same batch is lost.
	if lost, err := deagg.DeaggregateRecords(raw); err == nil || len(lost) != 0 {
		t.Errorf("KCL deaggregator on the raw batch: %d records, err %v; want the batch lost", len(lost), err)
	}
}

// readShard reads the stream's only shard from TRIM_HORIZON until it has n
// records, or has reached the tip of the shard with fewer.
func readShard(ctx context.Context, t *testing.T, c *kinesis.Client, stream string, n int) []types.Record {
	t.Helper()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) != 1 {
		t.Fatalf("ListShards: %v (%d shards)", err, len(shards.Shards))
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(stream),
		ShardId:           shards.Shards[0].ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatal(err)
	}
	iter := it.ShardIterator
	var out []types.Record
	for len(out) < n {
		r, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatalf("GetRecords after %d records: %v", len(out), err)
		}
		out = append(out, r.Records...)
		iter = r.NextShardIterator
		if len(r.Records) == 0 {
			if len(out) > 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
				break // at the tip: fewer records than expected
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

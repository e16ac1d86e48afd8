package kpl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"
	deagg "github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
)

func TestParseCorrupt(t *testing.T) {
	raw := []byte("\xf3\x89\x9a\xc2\x00\x00 raw with NULs\x00")
	data := markCorrupt(ReasonCorruptAggregate, "records[0]: bad\x00detail", raw)
	reason, got, ok := ParseCorrupt(data)
	if !ok || !bytes.Equal(got, raw) {
		t.Fatalf("ParseCorrupt = %q, %q, %v", reason, got, ok)
	}
	if reason != `corrupt_kpl_aggregate: records[0]: bad\x00detail` {
		t.Errorf("reason %q", reason)
	}
	for _, d := range [][]byte{nil, []byte(`{"a":1}`), []byte(CorruptMarker), []byte(CorruptMarker + "no separator"), []byte("\x00SFKPLBA")} {
		if _, _, ok := ParseCorrupt(d); ok {
			t.Errorf("ParseCorrupt(%q) ok", d)
		}
	}
	// The marker can never be taken for the KPL magic nor for text.
	if strings.HasPrefix(CorruptMarker, Magic[:1]) || CorruptMarker[0] != 0 {
		t.Error("CorruptMarker must start with NUL")
	}
}

func rec(seq string, pk string, data []byte) types.Record {
	return types.Record{
		Data:                        data,
		PartitionKey:                aws.String(pk),
		SequenceNumber:              aws.String(seq),
		ApproximateArrivalTimestamp: aws.Time(time.Unix(1700000000, 0)),
		EncryptionType:              types.EncryptionTypeKms,
	}
}

func TestRewriteRecordsPlainUnchanged(t *testing.T) {
	in := []types.Record{rec("1", "a", []byte(`{"a":1}`)), rec("2", "b", []byte("\xf3\x89\x9a\xc2 no md5"))}
	out := RewriteRecords(in)
	if len(out) != 2 || &out[0] != &in[0] {
		t.Fatal("plain records: want the input slice back")
	}
	if n := testing.AllocsPerRun(100, func() { RewriteRecords(in) }); n != 0 {
		t.Errorf("plain records: %v allocs, want 0", n)
	}
	if RewriteRecords(nil) != nil {
		t.Error("nil in, non-nil out")
	}
}

func TestRewriteRecords(t *testing.T) {
	good := tAggregate{
		pks:  []string{"k1", "k2"},
		recs: []tRecord{{pk: 0, ehk: -1, data: []byte("s0")}, {pk: 1, ehk: -1, data: []byte("s1")}, {pk: 0, ehk: -1, data: []byte("s2")}},
	}.bytes()
	corruptAgg := frame(appendBytesField(appendBytesField(nil, 1, []byte("k")), 3, []byte{0x08}))
	inner := tAggregate{pks: []string{"x"}, recs: []tRecord{{pk: 0, ehk: -1, data: []byte("inner")}}}.bytes()
	nested := tAggregate{
		pks:  []string{"n"},
		recs: []tRecord{{pk: 0, ehk: -1, data: []byte("before")}, {pk: 0, ehk: -1, data: inner}, {pk: 0, ehk: -1, data: []byte(CorruptMarker + "sub")}},
	}.bytes()
	collision := []byte(CorruptMarker + "x\x00plain")
	in := []types.Record{
		rec("1", "p", []byte("plain")),
		rec("2", "agg", good),
		rec("3", "bad", corruptAgg),
		rec("4", "p", collision),
		rec("5", "nest", nested),
	}
	inCopy := append([]types.Record(nil), in...)
	out := RewriteRecords(in)

	type want struct {
		seq, pk, data string
		reason        string // code of a marked record; raw is then data
	}
	wants := []want{
		{"1", "p", "plain", ""},
		{"2", "k1", "s0", ""}, {"2", "k2", "s1", ""}, {"2", "k1", "s2", ""},
		{"3", "bad", string(corruptAgg), ReasonCorruptAggregate},
		{"4", "p", string(collision), ReasonMarkerCollision},
		{"5", "n", "before", ""}, {"5", "n", string(inner), ReasonNestedAggregate}, {"5", "n", CorruptMarker + "sub", ReasonMarkerCollision},
	}
	if len(out) != len(wants) {
		t.Fatalf("%d records, want %d", len(out), len(wants))
	}
	for i, w := range wants {
		r := out[i]
		if aws.ToString(r.SequenceNumber) != w.seq || aws.ToString(r.PartitionKey) != w.pk {
			t.Errorf("record %d: seq %q pk %q, want %q %q", i, aws.ToString(r.SequenceNumber), aws.ToString(r.PartitionKey), w.seq, w.pk)
		}
		if !aws.ToTime(r.ApproximateArrivalTimestamp).Equal(time.Unix(1700000000, 0)) || r.EncryptionType != types.EncryptionTypeKms {
			t.Errorf("record %d: arrival/encryption not the aggregate's: %v %v", i, r.ApproximateArrivalTimestamp, r.EncryptionType)
		}
		reason, raw, ok := ParseCorrupt(r.Data)
		if w.reason == "" {
			if ok || string(r.Data) != w.data {
				t.Errorf("record %d: data %q, want %q unmarked", i, r.Data, w.data)
			}
			continue
		}
		if !ok || !strings.HasPrefix(reason, w.reason+": ") || string(raw) != w.data {
			t.Errorf("record %d: ParseCorrupt = %q, %q, %v; want reason %s and the original bytes", i, reason, raw, ok, w.reason)
		}
	}
	for i := range in {
		if !bytes.Equal(in[i].Data, inCopy[i].Data) || in[i].PartitionKey != inCopy[i].PartitionKey {
			t.Errorf("input record %d modified", i)
		}
	}

	// The KCL's deaggregator passes every rewritten record through.
	got, err := deagg.DeaggregateRecords(out)
	if err != nil || len(got) != len(out) {
		t.Fatalf("awslabs deaggregator: %d records, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, out[i].Data) || aws.ToString(got[i].PartitionKey) != aws.ToString(out[i].PartitionKey) {
			t.Errorf("awslabs deaggregator changed record %d", i)
		}
	}
}

// What the KCL's deaggregator does without us, which is why this package
// exists: one corrupt aggregate costs the batch, an out-of-range key index
// panics.
func TestAwslabsDeaggregatorDefects(t *testing.T) {
	plain := rec("1", "p", []byte("plain"))
	corruptAgg := rec("2", "p", frame(appendBytesField(appendBytesField(nil, 1, []byte("k")), 3, []byte{0x08})))
	got, err := deagg.DeaggregateRecords([]types.Record{plain, corruptAgg})
	if err == nil || len(got) != 0 {
		t.Errorf("awslabs on a batch with a corrupt aggregate: %d records, err %v; the batch-loss defect is gone?", len(got), err)
	}
	outOfRange := rec("3", "p", tAggregate{pks: []string{"k"}, recs: []tRecord{{pk: 1, ehk: -1, data: []byte("d")}}}.bytes())
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_, _ = deagg.DeaggregateRecords([]types.Record{outOfRange})
		return false
	}()
	if !panicked {
		t.Error("awslabs on an out-of-range partition_key_index did not panic")
	}
	if _, _, err := Deaggregate(outOfRange.Data); err == nil {
		t.Error("Deaggregate accepts an out-of-range partition_key_index")
	}
}

// The option adds the middleware to GetRecords only, once, in the
// Initialize step.
func TestAddSafeDeaggregation(t *testing.T) {
	var o kinesis.Options
	opt := WithSafeDeaggregation()
	opt(&o)
	opt(&o)
	for _, op := range []string{"GetRecords", "PutRecords", "ListShards"} {
		stack := middleware.NewStack(op, nil)
		for _, fn := range o.APIOptions {
			if err := fn(stack); err != nil {
				t.Fatalf("%s: %v", op, err)
			}
		}
		_, has := stack.Initialize.Get(middlewareID)
		if has != (op == "GetRecords") {
			t.Errorf("%s: middleware present = %v", op, has)
		}
		if n := len(stack.Initialize.List()); op == "GetRecords" && n != 1 {
			t.Errorf("GetRecords: %d Initialize middlewares, want 1", n)
		}
	}
}

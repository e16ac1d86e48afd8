package kpl

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	deagg "github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
)

// FuzzDeaggregate: data is either a whole record (frameIt false) or, so that
// the fuzzer explores the protobuf decoder instead of dying at the MD5 check,
// a protobuf body that is framed with the magic and its MD5 (frameIt true).
//
// Properties: Deaggregate never panics; a framed body is always an
// aggregate; a valid result is non-empty, aliases the input, re-encodes to an
// aggregate that decodes to the same sub-records, and agrees with the awslabs
// deaggregator (the KCL's). RewriteRecords never lets an aggregate through.
func FuzzDeaggregate(f *testing.F) {
	for _, a := range seedAggregates() {
		f.Add(a.marshal(), true)
		f.Add(a.bytes(), false)
	}
	for _, tc := range corruptBodies() {
		f.Add([]byte(tc.body), true)
	}
	f.Add([]byte(`{"a":1}`), false)
	f.Fuzz(func(t *testing.T, data []byte, frameIt bool) {
		in := data
		if frameIt {
			in = frame(data)
		}
		subs, isAgg, err := Deaggregate(in)
		if frameIt && !isAgg {
			t.Fatal("a framed body is not an aggregate")
		}
		if isAgg != IsAggregate(in) {
			t.Fatalf("Deaggregate isAggregate=%v, IsAggregate=%v", isAgg, !isAgg)
		}
		checkRewrite(t, in)
		if !isAgg || err != nil {
			if subs != nil {
				t.Fatalf("%d sub-records with isAggregate=%v err=%v", len(subs), isAgg, err)
			}
			return
		}
		if len(subs) == 0 {
			t.Fatal("valid aggregate with no sub-records")
		}
		for i, s := range subs {
			if !within(s.Data, in) {
				t.Fatalf("sub-record %d does not alias the input", i)
			}
		}
		again, isAgg2, err := Deaggregate(encodeSubs(subs))
		if !isAgg2 || err != nil {
			t.Fatalf("re-encoded: isAggregate=%v err=%v", isAgg2, err)
		}
		assertSubs(t, again, subs)

		// The awslabs deaggregator must read a valid aggregate the same way.
		recs, err := deagg.DeaggregateRecords([]types.Record{{Data: in, SequenceNumber: aws.String("1")}})
		if err != nil {
			t.Fatalf("awslabs deaggregator rejects what Deaggregate accepts: %v", err)
		}
		if len(recs) != len(subs) {
			t.Fatalf("awslabs deaggregator: %d records, Deaggregate %d", len(recs), len(subs))
		}
		for i := range recs {
			if !bytes.Equal(recs[i].Data, subs[i].Data) || aws.ToString(recs[i].PartitionKey) != subs[i].PartitionKey {
				t.Fatalf("record %d: awslabs {%q %q}, Deaggregate {%q %q}", i,
					recs[i].Data, aws.ToString(recs[i].PartitionKey), subs[i].Data, subs[i].PartitionKey)
			}
		}
	})
}

// checkRewrite: whatever one record holds, RewriteRecords turns it into
// records that the KCL's deaggregator passes through unchanged.
func checkRewrite(t *testing.T, data []byte) {
	t.Helper()
	out := RewriteRecords([]types.Record{{Data: data, SequenceNumber: aws.String("7"), PartitionKey: aws.String("p")}})
	if len(out) == 0 {
		t.Fatal("RewriteRecords returned nothing")
	}
	for i, r := range out {
		if IsAggregate(r.Data) {
			t.Fatalf("RewriteRecords output %d is an aggregate", i)
		}
		if aws.ToString(r.SequenceNumber) != "7" {
			t.Fatalf("output %d has sequence %q", i, aws.ToString(r.SequenceNumber))
		}
	}
	got, err := deagg.DeaggregateRecords(out)
	if err != nil || len(got) != len(out) {
		t.Fatalf("awslabs deaggregator on rewritten records: %d records, err %v; want %d, nil", len(got), err, len(out))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, out[i].Data) {
			t.Fatalf("awslabs deaggregator changed record %d", i)
		}
	}
}

func seedAggregates() []tAggregate {
	return []tAggregate{
		{pks: []string{"a"}, recs: []tRecord{{pk: 0, ehk: -1, data: []byte(`{"x":1}`)}}},
		{
			pks: []string{"a", "b"}, ehks: []string{"123"},
			recs: []tRecord{
				{pk: 1, ehk: 0, data: []byte("one"), tags: [][2]string{{"k", "v"}}},
				{pk: 0, ehk: -1, data: nil},
				{pk: 1, ehk: -1, data: []byte("three")},
			},
			recordsFirst: true,
		},
	}
}

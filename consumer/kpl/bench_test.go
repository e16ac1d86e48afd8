package kpl

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// benchAggregate is an aggregate of n sub-records of about size bytes, each
// with its own partition key (typical of KPL producers with random keys).
func benchAggregate(n, size int) []byte {
	var a tAggregate
	for i := range n {
		a.pks = append(a.pks, fmt.Sprintf("partition-key-%08d", i))
		data := fmt.Appendf(nil, `{"id":%d,"pad":"%0*d"}`, i, max(size-20, 0), 0)
		a.recs = append(a.recs, tRecord{pk: uint64(i), ehk: -1, data: data})
	}
	return a.bytes()
}

func BenchmarkDeaggregate(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		data := benchAggregate(n, 200)
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				subs, _, err := Deaggregate(data)
				if err != nil || len(subs) != n {
					b.Fatal(len(subs), err)
				}
			}
			b.ReportMetric(float64(testing.AllocsPerRun(10, func() { _, _, _ = Deaggregate(data) }))/float64(n), "allocs/sub-record")
		})
	}
}

// BenchmarkRewriteRecords: one GetRecords response of 10 aggregates of 100
// sub-records each.
func BenchmarkRewriteRecords(b *testing.B) {
	recs := make([]types.Record, 10)
	for i := range recs {
		recs[i] = types.Record{Data: benchAggregate(100, 200), SequenceNumber: aws.String(fmt.Sprint(i)), PartitionKey: aws.String("k")}
	}
	b.ReportAllocs()
	for b.Loop() {
		if out := RewriteRecords(recs); len(out) != 1000 {
			b.Fatal(len(out))
		}
	}
}

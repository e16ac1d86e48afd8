package kpl

import (
	"fmt"
	"testing"
)

func TestAggregateRoundTrips(t *testing.T) {
	var recs [][]byte
	for i := range 25 {
		recs = append(recs, []byte(fmt.Sprintf(`{"i":%d}`, i)))
	}
	subs, isAgg, err := Deaggregate(Aggregate("pk-1", recs))
	if err != nil || !isAgg || len(subs) != len(recs) {
		t.Fatalf("Deaggregate: %d subs, aggregate %v, err %v", len(subs), isAgg, err)
	}
	for i, s := range subs {
		if string(s.Data) != string(recs[i]) || s.PartitionKey != "pk-1" {
			t.Fatalf("sub %d = %q/%q, want %q/pk-1", i, s.Data, s.PartitionKey, recs[i])
		}
	}
}

package decode

import (
	"bytes"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

// TestDecodeRejected: a record marked Rejected upstream becomes a dead letter
// with exactly that reason and a copy of its bytes, without being decoded
// (its Data here is valid JSON that would become a row), and does not
// disturb the rows around it.
func TestDecodeRejected(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d, err := New(mem, []Field{{Name: "v", Type: Int64}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()

	arrival := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rejectedData := []byte(`{"v":2}`)
	const why = "corrupt_kpl_aggregate: records[0]: data missing"
	recs := []flow.SourceRecord{
		{Data: []byte(`{"v":1}`), SequenceNumber: "10", ArrivalTime: arrival},
		{Data: rejectedData, SequenceNumber: "11", SubSequence: 0, ArrivalTime: arrival, Rejected: why},
		{Data: []byte("\x00not json"), SequenceNumber: "12", ArrivalTime: arrival, Rejected: "nested_kpl_aggregate: x"},
		{Data: []byte(`{"v":3}`), SequenceNumber: "13", SubSequence: 1, ArrivalTime: arrival},
	}
	b, dead := d.Decode("shard-7", recs)
	defer b.Record.Release()

	if got := b.Rows(); got != 2 {
		t.Fatalf("%d rows, want 2", got)
	}
	col := b.Record.Column(0).(*array.Int64)
	if col.Value(0) != 1 || col.Value(1) != 3 {
		t.Errorf("rows %v, want [1 3]", col)
	}
	if b.Origins[0].SequenceNumber != "10" || b.Origins[1].SequenceNumber != "13" {
		t.Errorf("origins %+v", b.Origins)
	}
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	dl := dead[0]
	if dl.Reason != why || dl.SequenceNumber != "11" || dl.Shard != "shard-7" || !dl.ArrivalTime.Equal(arrival) {
		t.Errorf("dead letter %+v", dl)
	}
	if !bytes.Equal(dl.Raw, rejectedData) || &dl.Raw[0] == &rejectedData[0] {
		t.Errorf("Raw %q is not a copy of the record's bytes", dl.Raw)
	}
	if dead[1].Reason != "nested_kpl_aggregate: x" || !bytes.Equal(dead[1].Raw, []byte("\x00not json")) {
		t.Errorf("second dead letter %+v", dead[1])
	}
}

package decode

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shardflow/shardflow/flow"
)

// micros marks a timestamp cell, so that a timestamp and an int64 column with
// the same number do not compare equal by accident.
type micros int64

// outcome is what became of one input: a row (its cells) or a dead letter.
type outcome struct {
	row    []any
	reason string
}

func (o outcome) String() string {
	if o.reason != "" {
		return "dead(" + o.reason + ")"
	}
	return fmt.Sprintf("row%v", o.row)
}

// sameOutcome compares rows cell by cell (floats by bits, so -0 and 0
// differ) and dead letters by reason code only: detail text is free.
func sameOutcome(a, b outcome) bool {
	if (a.reason == "") != (b.reason == "") {
		return false
	}
	if a.reason != "" {
		return ReasonCode(a.reason) == ReasonCode(b.reason)
	}
	if len(a.row) != len(b.row) {
		return false
	}
	for i := range a.row {
		if !sameCell(a.row[i], b.row[i]) {
			return false
		}
	}
	return true
}

func sameCell(x, y any) bool {
	if fx, ok := x.(float64); ok {
		fy, ok := y.(float64)
		return ok && math.Float64bits(fx) == math.Float64bits(fy)
	}
	return x == y
}

var reasonCodes = map[string]bool{
	ReasonInvalidJSON: true, ReasonNotAnObject: true, ReasonMissingField: true,
	ReasonTypeMismatch: true, ReasonOutOfRange: true, ReasonInvalidTimestamp: true,
	ReasonInvalidUTF8: true,
}

// run decodes inputs as one batch and checks every invariant Decode promises,
// whatever the input: each input is accounted for exactly once and in order,
// dead letters carry a copy of the input and a known code, and all columns
// have the batch's length. It releases the record.
func run(t testing.TB, d *Decoder, inputs [][]byte) []outcome {
	t.Helper()
	recs := make([]flow.SourceRecord, len(inputs))
	arrival := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i, in := range inputs {
		recs[i] = flow.SourceRecord{Data: in, SequenceNumber: strconv.Itoa(i), SubSequence: int64(i % 3), ArrivalTime: arrival.Add(time.Duration(i))}
	}
	b, dead := d.Decode("shard-0001", recs)
	if b == nil || b.Record == nil {
		t.Fatalf("Decode returned a nil batch or record")
	}
	defer b.Record.Release()
	rec := b.Record
	if b.Shard != "shard-0001" {
		t.Errorf("batch shard %q", b.Shard)
	}
	if int(rec.NumRows()) != len(b.Origins) {
		t.Fatalf("record has %d rows, %d origins", rec.NumRows(), len(b.Origins))
	}
	if len(b.Origins)+len(dead) != len(inputs) {
		t.Fatalf("%d rows + %d dead letters != %d inputs", len(b.Origins), len(dead), len(inputs))
	}
	for i := 0; i < int(rec.NumCols()); i++ {
		if n := rec.Column(i).Len(); n != int(rec.NumRows()) {
			t.Fatalf("column %d has %d values, record %d rows", i, n, rec.NumRows())
		}
	}
	if !rec.Schema().Equal(d.Schema()) {
		t.Fatalf("record schema %v != decoder schema %v", rec.Schema(), d.Schema())
	}
	out := make([]outcome, len(inputs))
	seen := make([]bool, len(inputs))
	next, prev := 0, -1
	for _, o := range b.Origins {
		i, _ := strconv.Atoi(o.SequenceNumber)
		if i <= prev || seen[i] || o.SubSequence != recs[i].SubSequence || !o.ArrivalTime.Equal(recs[i].ArrivalTime) {
			t.Fatalf("origin %+v out of order or wrong (previous %d)", o, prev)
		}
		prev, seen[i] = i, true
		out[i] = outcome{row: cells(rec, next)}
		next++
	}
	prev = -1
	for _, dl := range dead {
		i, _ := strconv.Atoi(dl.SequenceNumber)
		if i <= prev || seen[i] {
			t.Fatalf("dead letter %q out of order or also a row", dl.SequenceNumber)
		}
		prev, seen[i] = i, true
		if dl.Shard != "shard-0001" || dl.SubSequence != recs[i].SubSequence || !dl.ArrivalTime.Equal(recs[i].ArrivalTime) {
			t.Errorf("dead letter %d provenance %+v", i, dl)
		}
		if !bytes.Equal(dl.Raw, inputs[i]) || (len(dl.Raw) > 0 && &dl.Raw[0] == &inputs[i][0]) {
			t.Errorf("dead letter %d: Raw is not a copy of the input", i)
		}
		if !reasonCodes[ReasonCode(dl.Reason)] {
			t.Errorf("dead letter %d: unknown reason code in %q", i, dl.Reason)
		}
		out[i] = outcome{reason: dl.Reason}
	}
	return out
}

// cells reads one row back from the Arrow arrays.
func cells(rec arrow.RecordBatch, row int) []any {
	out := make([]any, rec.NumCols())
	for i, col := range rec.Columns() {
		if col.IsNull(row) {
			continue
		}
		switch a := col.(type) {
		case *array.String:
			out[i] = a.Value(row)
		case *array.Int64:
			out[i] = a.Value(row)
		case *array.Float64:
			out[i] = a.Value(row)
		case *array.Boolean:
			out[i] = a.Value(row)
		case *array.Timestamp:
			out[i] = micros(a.Value(row))
		default:
			panic(fmt.Sprintf("unexpected column type %T", col))
		}
	}
	return out
}

func ptr(s string) *string { return &s }

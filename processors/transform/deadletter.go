package transform

import (
	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/rowjson"
)

// DeadLetter returns the dead letter of row i of in: its origin, the reason,
// and Raw = RowJSON of the row. Pipeline is left for the caller.
func DeadLetter(in *flow.Batch, i int, reason string) flow.DeadLetter {
	o := in.Origins[i]
	return flow.DeadLetter{
		Reason:         reason,
		Shard:          in.Shard,
		SequenceNumber: o.SequenceNumber,
		SubSequence:    o.SubSequence,
		ArrivalTime:    o.ArrivalTime,
		Raw:            AppendRowJSON(nil, in.Record, i),
	}
}

// AppendRowJSON appends row i of rec as one JSON object (rowjson.AppendRow,
// the one renderer of dead-letter rows).
func AppendRowJSON(buf []byte, rec arrow.RecordBatch, i int) []byte {
	return rowjson.AppendRow(buf, rec, i)
}

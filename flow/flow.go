package flow

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// SourceRecord is one record as read from a shard. Data is borrowed: it is
// valid only until the handler that received it returns.
type SourceRecord struct {
	Data           []byte
	PartitionKey   string
	SequenceNumber string
	// SubSequence is the index of a KPL sub-record inside its aggregate
	// (0 for records that were not aggregated).
	SubSequence int64
	// ArrivalTime is ApproximateArrivalTimestamp as Kinesis reported it.
	ArrivalTime time.Time
	// Rejected, when not empty, says the record is known to be bad before
	// decoding (a corrupt KPL aggregate): it is the dead-letter reason, and
	// Data holds the raw bytes to dead-letter.
	Rejected string
}

// RowOrigin says where one row of a Batch came from.
type RowOrigin struct {
	SequenceNumber string
	SubSequence    int64
	ArrivalTime    time.Time
}

// Batch is a columnar batch plus its provenance. Record row i came from
// Origins[i]. The producer of a Batch owns one reference to Record; a stage
// that keeps it beyond a call must Retain it. Origins is read-only once the
// batch is made (producers allocate it per batch), so a stage or output may
// keep the slice without copying it.
type Batch struct {
	Record  arrow.RecordBatch
	Shard   string
	Origins []RowOrigin
}

// Rows returns the number of rows in the batch (0 for a nil record).
func (b *Batch) Rows() int {
	if b == nil || b.Record == nil {
		return 0
	}
	return int(b.Record.NumRows())
}

// DeadLetter is one input that could not become a row: undecodable, of the
// wrong type, too large for an output, or a corrupt aggregate.
type DeadLetter struct {
	Reason         string    `json:"reason"`
	Pipeline       string    `json:"pipeline"`
	Shard          string    `json:"shard"`
	SequenceNumber string    `json:"sequence"`
	SubSequence    int64     `json:"sub_sequence"`
	ArrivalTime    time.Time `json:"arrival_time"`
	// Raw is the record's bytes; encoded as base64 in the envelope.
	Raw []byte `json:"raw_base64"`
}

// Ack is called exactly once per Write when the written data is durable
// (err == nil) or when the output gave up on it (err != nil). A nil error is
// the only thing that lets a checkpoint pass the data.
type Ack func(err error)

// Output receives batches. Write may block when the output's bounded queue is
// full (back-pressure). Write returns an error only when the batch was not
// accepted; once accepted, the outcome arrives through ack. Write must not
// keep b.Record after it returns unless it retained it.
type Output interface {
	Write(ctx context.Context, b *Batch, ack Ack) error
	// Close flushes what was accepted, waits for its acks and releases
	// resources. Cancelling ctx abandons the flush.
	Close(ctx context.Context) error
}

// DeadLetterOutput receives dead-letter entries, with the same ack contract
// as Output.
type DeadLetterOutput interface {
	WriteDeadLetters(ctx context.Context, entries []DeadLetter, ack Ack) error
	Close(ctx context.Context) error
}

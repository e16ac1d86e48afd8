package harness

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/flow"
)

// RowEncoder is the encoder the Firehose output uses (encode.NDJSON,
// encode.CSV).
type RowEncoder interface {
	AppendRow(dst []byte, rec arrow.RecordBatch, row int) []byte
}

// Encode is a discarding flow.Output in place of the Firehose output: it
// encodes every row of each batch, one line each, into a reused buffer,
// counts the bytes and acks at once. It is safe for concurrent use.
type Encode struct {
	enc   RowEncoder
	bufs  sync.Pool // *[]byte
	bytes atomic.Int64
	rows  atomic.Int64
}

// NewEncode returns an output encoding with enc.
func NewEncode(enc RowEncoder) *Encode {
	e := &Encode{enc: enc}
	e.bufs.New = func() any { b := make([]byte, 0, 256<<10); return &b }
	return e
}

// Write encodes b and acks.
func (e *Encode) Write(_ context.Context, b *flow.Batch, ack flow.Ack) error {
	bp := e.bufs.Get().(*[]byte)
	buf := (*bp)[:0]
	n := b.Rows()
	for row := range n {
		buf = e.enc.AppendRow(buf, b.Record, row)
		buf = append(buf, '\n')
	}
	e.bytes.Add(int64(len(buf)))
	e.rows.Add(int64(n))
	*bp = buf
	e.bufs.Put(bp)
	ack(nil)
	return nil
}

// Close does nothing: nothing is held.
func (e *Encode) Close(context.Context) error { return nil }

// Bytes is the number of encoded bytes so far.
func (e *Encode) Bytes() int64 { return e.bytes.Load() }

// Rows is the number of encoded rows so far.
func (e *Encode) Rows() int64 { return e.rows.Load() }

// DeadLetters is a discarding flow.DeadLetterOutput: it counts entries and
// acks at once. Give it to stages or outputs that take a dead-letter output
// (a window operator's late rows). It is safe for concurrent use.
type DeadLetters struct {
	n atomic.Int64
}

// WriteDeadLetters counts entries and acks.
func (d *DeadLetters) WriteDeadLetters(_ context.Context, entries []flow.DeadLetter, ack flow.Ack) error {
	d.n.Add(int64(len(entries)))
	ack(nil)
	return nil
}

// Close does nothing.
func (d *DeadLetters) Close(context.Context) error { return nil }

// Count is the number of entries written so far.
func (d *DeadLetters) Count() int64 { return d.n.Load() }

package decode

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shardflow/shardflow/flow"
)

// Decoder turns JSON records into Arrow record batches of one declared
// schema. It keeps its builders, scanner and scratch buffers between calls,
// so it must be used by one goroutine at a time: one Decoder per shard
// processor. Call Release when done with it.
type Decoder struct {
	schema *arrow.Schema
	rb     *array.RecordBuilder
	root   *node
	cols   []column
	sc     scanner
	// vals holds one record's converted values until all columns succeeded:
	// builders are appended to only then, so a record rejected half-way
	// leaves nothing behind and all builders keep equal lengths.
	vals   []value
	strBuf []byte // unescaped strings of the current record
}

// column is one declared field, resolved.
type column struct {
	name     string
	path     string
	typ      FieldType
	nullable bool
	want     string // the expected type, as reasons name it
	format   tsFormat
	layout   string
	node     *node
	slot     int
	hasDef   bool
	def      value

	builder array.Builder
	// The typed builder, so appending needs no type assertion per value.
	str *array.StringBuilder
	i64 *array.Int64Builder
	f64 *array.Float64Builder
	boo *array.BooleanBuilder
	ts  *array.TimestampBuilder

	bytesPerRow int // string data per row in the previous batch
}

// value is one converted value: i holds int64, timestamp micros and bools.
type value struct {
	null bool
	i    int64
	f    float64
	b    []byte // a string borrowed from the record or the default
	// A string unescaped into Decoder.strBuf, by offset because strBuf may
	// move while later columns of the same record are unescaped.
	inBuf    bool
	off, end int
}

// Schema returns the Arrow schema of the batches Decode returns.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Release frees the builders' memory. The Decoder must not be used afterwards.
func (d *Decoder) Release() {
	if d.rb != nil {
		d.rb.Release()
		d.rb = nil
	}
}

// Decode turns one shard's records (one KCL ProcessRecords call) into one
// batch. Records that decode become rows of b.Record in input order, with
// b.Origins[i] their provenance; every other record becomes a DeadLetter
// (with Raw copied, since SourceRecord.Data is borrowed) whose Reason starts
// with one of the Reason* codes. A record with Rejected set is not decoded:
// it becomes a dead letter with Reason = Rejected. Pipeline is left for the
// caller to fill.
// len(rows) + len(deadLetters) == len(recs), always. b.Record is never nil
// (it may have 0 rows); the caller owns it and must Release it.
func (d *Decoder) Decode(shard string, recs []flow.SourceRecord) (b *flow.Batch, deadLetters []flow.DeadLetter) {
	d.rb.Reserve(len(recs))
	var input int
	for i := range recs {
		input += len(recs[i].Data)
	}
	for i := range d.cols {
		// Growing string data by doubling copied each batch's strings about
		// twice; the previous batch's bytes per row predicts this one well.
		// A column cannot hold more than the input, which bounds the guess
		// after a batch of unusually large records.
		if c := &d.cols[i]; c.str != nil && c.bytesPerRow > 0 {
			c.str.ReserveData(min(c.bytesPerRow*len(recs)*9/8, input))
		}
	}
	origins := make([]flow.RowOrigin, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		why := r.Rejected // known bad upstream: dead-letter it undecoded
		if why == "" {
			why = d.decodeOne(r.Data)
		}
		if why != "" {
			deadLetters = append(deadLetters, flow.DeadLetter{
				Reason:         why,
				Shard:          shard,
				SequenceNumber: r.SequenceNumber,
				SubSequence:    r.SubSequence,
				ArrivalTime:    r.ArrivalTime,
				Raw:            bytes.Clone(r.Data),
			})
			continue
		}
		origins = append(origins, flow.RowOrigin{
			SequenceNumber: r.SequenceNumber,
			SubSequence:    r.SubSequence,
			ArrivalTime:    r.ArrivalTime,
		})
	}
	if rows := len(origins); rows > 0 {
		for i := range d.cols {
			if c := &d.cols[i]; c.str != nil {
				c.bytesPerRow = (c.str.DataLen() + rows - 1) / rows
			}
		}
	}
	// Do not keep the caller's borrowed bytes reachable between calls.
	d.sc.data = nil
	for i := range d.vals {
		d.vals[i] = value{}
	}
	return &flow.Batch{Record: d.rb.NewRecordBatch(), Shard: shard, Origins: origins}, deadLetters
}

// decodeOne appends one record to the builders, or returns why it cannot.
func (d *Decoder) decodeOne(data []byte) string {
	valid, object := d.sc.scan(data, d.root)
	if !valid {
		return reason(ReasonInvalidJSON, d.sc.syntaxError())
	}
	if !object {
		return reason(ReasonNotAnObject, "got "+d.sc.topKind())
	}
	d.strBuf = d.strBuf[:0]
	for i := range d.cols {
		c := &d.cols[i]
		if why := d.convert(c, data, &d.sc.slots[c.slot], &d.vals[i]); why != "" {
			return why
		}
	}
	for i := range d.cols {
		d.cols[i].append(&d.vals[i], d.strBuf)
	}
	return ""
}

func (c *column) append(v *value, strBuf []byte) {
	if v.null {
		c.builder.AppendNull()
		return
	}
	switch c.typ {
	case String:
		if v.inBuf {
			c.str.BinaryBuilder.Append(strBuf[v.off:v.end])
		} else {
			c.str.BinaryBuilder.Append(v.b)
		}
	case Int64:
		c.i64.Append(v.i)
	case Float64:
		c.f64.Append(v.f)
	case Bool:
		c.boo.Append(v.i != 0)
	case Timestamp:
		c.ts.Append(arrow.Timestamp(v.i))
	}
}

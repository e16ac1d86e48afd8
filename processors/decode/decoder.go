package decode

import (
	"bytes"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

// Decoder turns JSON records into Arrow record batches of one declared
// schema. It keeps its column buffers, scanner and scratch buffers between
// calls, so it must be used by one goroutine at a time: one Decoder per shard
// processor. Call Release when done with it.
type Decoder struct {
	schema *arrow.Schema
	mem    memory.Allocator
	root   *node
	cols   []column
	sc     scanner
	rows   int    // rows of the current batch appended to every column
	strBuf []byte // unescaped strings of the current record

	// Formats other than JSON (format.go, cloudwatch.go): at most one is set.
	text    *textFormat
	cw      *cloudWatch
	skipped map[string]int // by Skip* reason, in the last Decode call
}

// column is one declared field, resolved, and its values in the batch being
// decoded.
type column struct {
	name     string
	path     string
	typ      FieldType
	t        colType // typ as a small integer: the hot paths switch on it
	dt       arrow.DataType
	nullable bool
	want     string // the expected type, as reasons name it
	format   tsFormat
	layout   string
	node     *node
	slot     int
	hasDef   bool
	def      value
	rfc      rfc3339Cache

	// The current batch's values, in plain Go slices that are reused from
	// batch to batch: appending to them is cheaper than to Arrow builders,
	// and a record rejected half-way is undone by truncating them. Arrow
	// buffers from the allocator are made, at their exact size, only when
	// the batch is complete.
	offs  []int32 // String: rows+1 offsets into data
	data  []byte  // String: the values, concatenated
	ints  []int64 // Int64 and Timestamp (micros)
	flts  []float64
	bools []bool
	valid []bool // nullable columns only: false for a null row
}

// colType is a FieldType as an integer, cheaper to compare than a string.
type colType uint8

const (
	colString colType = iota
	colInt64
	colFloat64
	colBool
	colTimestamp
)

var colTypes = map[FieldType]colType{
	String: colString, Int64: colInt64, Float64: colFloat64, Bool: colBool, Timestamp: colTimestamp,
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

// Release frees the Decoder's buffers. The Decoder must not be used
// afterwards. (They are Go memory: the batches Decode returned hold all the
// allocator's memory, and are independent of it.)
func (d *Decoder) Release() {
	for i := range d.cols {
		c := &d.cols[i]
		c.offs, c.data, c.ints, c.flts, c.bools, c.valid = nil, nil, nil, nil, nil, nil
	}
	d.strBuf = nil
}

// Decode turns one shard's records (one KCL ProcessRecords call) into one
// batch. Records that decode become rows of b.Record in input order, with
// b.Origins[i] their provenance; every other record becomes a DeadLetter
// (with Raw copied, since SourceRecord.Data is borrowed) whose Reason starts
// with one of the Reason* codes. A record with Rejected set is not decoded:
// it becomes a dead letter with Reason = Rejected. Pipeline is left for the
// caller to fill.
// For JSON, len(rows) + len(deadLetters) == len(recs), always. The other
// formats (NewFormat) may make many rows of one record — a line, a log event
// — and skip input that is neither a row nor bad (Skipped counts it); every
// row's origin is its record's. b.Record is never nil (it may have 0 rows);
// the caller owns it and must Release it.
func (d *Decoder) Decode(shard string, recs []flow.SourceRecord) (b *flow.Batch, deadLetters []flow.DeadLetter) {
	if d.text != nil || d.cw != nil {
		return d.decodeRows(shard, recs)
	}
	d.rows = 0
	for i := range d.cols {
		d.cols[i].reset()
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
	// Do not keep the caller's borrowed bytes reachable between calls.
	d.sc.data = nil
	return &flow.Batch{Record: d.newRecordBatch(), Shard: shard, Origins: origins}, deadLetters
}

// decodeOne appends one record to the columns, or returns why it cannot and
// leaves the columns as they were.
func (d *Decoder) decodeOne(data []byte) string {
	valid, object := d.sc.scan(data, d.root)
	if !valid {
		return reason(ReasonInvalidJSON, d.sc.syntaxError())
	}
	if !object {
		return reason(ReasonNotAnObject, "got "+d.sc.topKind())
	}
	d.strBuf = d.strBuf[:0]
	slots := d.sc.slots
	for i := range d.cols {
		c := &d.cols[i]
		sl := &slots[c.slot]
		if c.t == colString && sl.kind == kindString && sl.ascii && !sl.esc {
			// Most values: what convert would borrow, appended directly.
			c.data = append(c.data, data[sl.start:sl.end]...)
			c.offs = append(c.offs, int32(len(c.data)))
			if c.nullable {
				c.valid = append(c.valid, true)
			}
			continue
		}
		var v value
		if why := d.convert(c, data, sl, &v); why != "" {
			for j := range i {
				d.cols[j].truncate(d.rows)
			}
			return why
		}
		c.append(&v, d.strBuf)
	}
	d.rows++
	return ""
}

func (c *column) reset() {
	c.offs = append(c.offs[:0], 0)
	c.data = c.data[:0]
	c.ints = c.ints[:0]
	c.flts = c.flts[:0]
	c.bools = c.bools[:0]
	c.valid = c.valid[:0]
}

func (c *column) append(v *value, strBuf []byte) {
	if c.nullable {
		c.valid = append(c.valid, !v.null)
	}
	switch c.t {
	case colString:
		switch {
		case v.null:
		case v.inBuf:
			c.data = append(c.data, strBuf[v.off:v.end]...)
		default:
			c.data = append(c.data, v.b...)
		}
		c.offs = append(c.offs, int32(len(c.data)))
	case colInt64, colTimestamp:
		c.ints = append(c.ints, v.i)
	case colFloat64:
		c.flts = append(c.flts, v.f)
	case colBool:
		c.bools = append(c.bools, v.i != 0)
	}
}

// truncate undoes the appends of a record rejected after this column took
// its value: the column goes back to rows values.
func (c *column) truncate(rows int) {
	if c.nullable {
		c.valid = c.valid[:rows]
	}
	switch c.t {
	case colString:
		c.offs = c.offs[:rows+1]
		c.data = c.data[:c.offs[rows]]
	case colInt64, colTimestamp:
		c.ints = c.ints[:rows]
	case colFloat64:
		c.flts = c.flts[:rows]
	case colBool:
		c.bools = c.bools[:rows]
	}
}

// newRecordBatch copies the batch's columns into Arrow buffers from the
// allocator and makes the record batch the caller owns.
func (d *Decoder) newRecordBatch() arrow.RecordBatch {
	arrs := make([]arrow.Array, len(d.cols))
	for i := range d.cols {
		arrs[i] = d.cols[i].newArray(d.mem, d.rows)
	}
	rec := array.NewRecordBatch(d.schema, arrs, int64(d.rows))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

func (c *column) newArray(mem memory.Allocator, rows int) arrow.Array {
	bufs := make([]*memory.Buffer, 2, 3)
	nulls := 0
	for _, ok := range c.valid {
		if !ok {
			nulls++
		}
	}
	if nulls > 0 { // no validity bitmap when every value is valid
		bufs[0] = bitmapOf(mem, c.valid)
	}
	switch c.t {
	case colString:
		if len(c.data) > 1<<31-1 {
			panic("decode: more than 2 GiB of string data in column " + c.name)
		}
		bufs[1] = bufferOf(mem, arrow.Int32Traits.CastToBytes(c.offs))
		bufs = append(bufs, bufferOf(mem, c.data))
	case colInt64, colTimestamp:
		bufs[1] = bufferOf(mem, arrow.Int64Traits.CastToBytes(c.ints))
	case colFloat64:
		bufs[1] = bufferOf(mem, arrow.Float64Traits.CastToBytes(c.flts))
	case colBool:
		bufs[1] = bitmapOf(mem, c.bools)
	}
	data := array.NewData(c.dt, rows, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	a := array.MakeFromData(data)
	data.Release()
	c.trim()
	return a
}

// trim drops buffers that grew for an unusually large batch, so a Decoder
// keeps about twice its latest batch rather than its largest one.
func (c *column) trim() {
	const keep = 64 << 10
	if cap(c.data) > max(2*len(c.data), keep) {
		c.data = nil
	}
	if cap(c.offs) > max(2*len(c.offs), keep/4) {
		c.offs = nil
	}
	if cap(c.ints) > max(2*len(c.ints), keep/8) {
		c.ints = nil
	}
	if cap(c.flts) > max(2*len(c.flts), keep/8) {
		c.flts = nil
	}
	if cap(c.bools) > max(2*len(c.bools), keep) {
		c.bools = nil
	}
	if cap(c.valid) > max(2*len(c.valid), keep) {
		c.valid = nil
	}
}

// bufferOf copies b into a buffer from mem.
func bufferOf(mem memory.Allocator, b []byte) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(len(b))
	copy(buf.Bytes(), b)
	return buf
}

// bitmapOf packs bits into an Arrow bitmap from mem.
func bitmapOf(mem memory.Allocator, bits []bool) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(len(bits)))))
	bm := buf.Bytes()
	clear(bm) // an allocator need not zero
	for i, ok := range bits {
		if ok {
			bitutil.SetBit(bm, i)
		}
	}
	return buf
}

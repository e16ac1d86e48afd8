package enrich

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/processors/transform"
)

// valueColumn builds the Arrow array of field f over rows (each row's
// values, one per field) into buffers from mem sized exactly once: a first
// pass counts nulls and string bytes, a second fills the buffers. Each pass
// is a tight loop over the rows, so the cache misses of reading the looked-up
// values of random keys overlap instead of waiting one by one behind a
// builder's per-value bookkeeping. There is no validity bitmap when no
// value is null.
func valueColumn(mem memory.Allocator, dt arrow.DataType, rows [][]transform.Value, f int) arrow.Array {
	n := len(rows)
	nulls, size := 0, 0
	for _, r := range rows {
		v := &r[f]
		if !v.Valid {
			nulls++
		} else {
			size += len(v.Str)
		}
	}
	bufs := make([]*memory.Buffer, 2, 3)
	if nulls > 0 {
		bufs[0] = bitmapOf(mem, rows, func(v *transform.Value) bool { return v.Valid }, f)
	}
	switch dt.ID() {
	case arrow.STRING:
		if size > 1<<31-1 {
			panic("enrich: more than 2 GiB of string values in one batch")
		}
		offBuf := newBuffer(mem, (n+1)*arrow.Int32SizeBytes)
		dataBuf := newBuffer(mem, size)
		offs := arrow.Int32Traits.CastFromBytes(offBuf.Bytes())
		data := dataBuf.Bytes()[:0]
		offs[0] = 0
		for k, r := range rows {
			if v := &r[f]; v.Valid {
				data = append(data, v.Str...) // within capacity: sized above
			}
			offs[k+1] = int32(len(data))
		}
		bufs[1] = offBuf
		bufs = append(bufs, dataBuf)
	case arrow.INT64, arrow.TIMESTAMP:
		buf := newBuffer(mem, n*arrow.Int64SizeBytes)
		ints := arrow.Int64Traits.CastFromBytes(buf.Bytes())
		for k, r := range rows {
			ints[k] = r[f].Int
		}
		bufs[1] = buf
	case arrow.FLOAT64:
		buf := newBuffer(mem, n*arrow.Float64SizeBytes)
		flts := arrow.Float64Traits.CastFromBytes(buf.Bytes())
		for k, r := range rows {
			flts[k] = r[f].Float
		}
		bufs[1] = buf
	case arrow.BOOL:
		bufs[1] = bitmapOf(mem, rows, func(v *transform.Value) bool { return v.Bool }, f)
	default:
		panic("enrich: no column of type " + dt.String())
	}
	data := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	arr := array.MakeFromData(data)
	data.Release()
	return arr
}

// bitmapOf packs bit(&row[f]) of every row into an Arrow bitmap from mem.
func bitmapOf(mem memory.Allocator, rows [][]transform.Value, bit func(*transform.Value) bool, f int) *memory.Buffer {
	buf := newBuffer(mem, int(bitutil.BytesForBits(int64(len(rows)))))
	bits := buf.Bytes()
	clear(bits) // an allocator need not zero
	for k, r := range rows {
		if bit(&r[f]) {
			bitutil.SetBit(bits, k)
		}
	}
	return buf
}

// newBuffer returns a buffer of exactly size bytes from mem (not zeroed:
// an allocator need not zero).
func newBuffer(mem memory.Allocator, size int) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(size)
	return buf
}

package transform

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// take copies col's values at rows (increasing) into a new array through b,
// which is left empty for reuse. The column types decode produces are copied
// value by value; any other type is cut into runs of consecutive rows and
// concatenated, which works for every Arrow type.
func take(mem memory.Allocator, b array.Builder, col arrow.Array, rows []int) arrow.Array {
	b.Reserve(len(rows))
	switch c := col.(type) {
	case *array.String:
		sb := b.(*array.StringBuilder)
		var size int
		for _, r := range rows {
			size += c.ValueLen(r)
		}
		sb.ReserveData(size)
		for _, r := range rows {
			if c.IsNull(r) {
				sb.AppendNull()
			} else {
				sb.Append(c.Value(r))
			}
		}
	case *array.Int64:
		takeFixed(b.(*array.Int64Builder), c, rows)
	case *array.Float64:
		takeFixed(b.(*array.Float64Builder), c, rows)
	case *array.Timestamp:
		takeFixed(b.(*array.TimestampBuilder), c, rows)
	case *array.Boolean:
		takeFixed(b.(*array.BooleanBuilder), c, rows)
	default:
		return takeRuns(mem, col, rows)
	}
	return b.NewArray()
}

type fixedArray[T any] interface {
	IsNull(i int) bool
	Value(i int) T
}

type fixedBuilder[T any] interface {
	UnsafeAppend(v T)
	UnsafeAppendBoolToBitmap(valid bool)
}

// takeFixed appends without per-value capacity checks: take reserved room
// for every row.
func takeFixed[T any](b fixedBuilder[T], c fixedArray[T], rows []int) {
	for _, r := range rows {
		if c.IsNull(r) {
			b.UnsafeAppendBoolToBitmap(false)
		} else {
			b.UnsafeAppend(c.Value(r))
		}
	}
}

func takeRuns(mem memory.Allocator, col arrow.Array, rows []int) arrow.Array {
	var parts []arrow.Array
	for i := 0; i < len(rows); {
		j := i + 1
		for j < len(rows) && rows[j] == rows[j-1]+1 {
			j++
		}
		parts = append(parts, array.NewSlice(col, int64(rows[i]), int64(rows[j-1]+1)))
		i = j
	}
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	if len(parts) == 0 {
		return array.MakeArrayOfNull(mem, col.DataType(), 0)
	}
	out, err := array.Concatenate(parts, mem)
	if err != nil {
		// Concatenate fails only on mismatched types or overflowing
		// offsets, which slices of one array within its own bounds
		// cannot produce.
		panic("transform: concatenating slices of one array: " + err.Error())
	}
	return out
}

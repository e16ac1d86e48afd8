package encode

import (
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// NDJSON writes rows as newline-delimited JSON objects: keys in schema order,
// nulls as null, strings escaped so that any line is valid JSON and valid
// UTF-8 and contains no raw line separator, int64 as integers, floats in the
// shortest form that reads back to the same float64, bools as true/false and
// timestamps as RFC 3339 UTC with microseconds (2026-11-22T04:50:48.123456Z).
type NDJSON struct {
	schema *arrow.Schema
	cols   []ndjsonCol
}

type ndjsonCol struct {
	key  []byte // `{"name":` or `,"name":`, escaped once at construction
	kind arrow.Type
}

// NewNDJSON builds an encoder for batches of schema. Columns must be string
// (utf8), int64, float64, bool or timestamp in microseconds (the types
// processors/decode produces); anything else is an error naming the column.
func NewNDJSON(schema *arrow.Schema) (*NDJSON, error) {
	e := &NDJSON{schema: schema}
	for i, f := range schema.Fields() {
		if err := checkColumn(i, f, "NDJSON"); err != nil {
			return nil, err
		}
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		key := appendString([]byte{sep}, f.Name)
		e.cols = append(e.cols, ndjsonCol{key: append(key, ':'), kind: f.Type.ID()})
	}
	return e, nil
}

// Schema returns the schema the encoder was built for.
func (e *NDJSON) Schema() *arrow.Schema { return e.schema }

// AppendRow appends row of rec as one JSON object and a '\n' to dst and
// returns the extended buffer. rec must have the encoder's schema (it panics
// on a column of another type: that is a wiring bug, not bad data).
func (e *NDJSON) AppendRow(dst []byte, rec arrow.RecordBatch, row int) []byte {
	if len(e.cols) == 0 {
		return append(dst, "{}\n"...)
	}
	for i := range e.cols {
		c := &e.cols[i]
		dst = append(dst, c.key...)
		col := rec.Column(i)
		if col.IsNull(row) {
			dst = append(dst, "null"...)
			continue
		}
		switch c.kind {
		case arrow.STRING:
			dst = appendString(dst, col.(*array.String).Value(row))
		case arrow.INT64:
			dst = strconv.AppendInt(dst, col.(*array.Int64).Value(row), 10)
		case arrow.FLOAT64:
			dst = appendFloat(dst, col.(*array.Float64).Value(row))
		case arrow.BOOL:
			dst = strconv.AppendBool(dst, col.(*array.Boolean).Value(row))
		case arrow.TIMESTAMP:
			dst = appendTimestamp(dst, int64(col.(*array.Timestamp).Value(row)))
		}
	}
	return append(dst, '}', '\n')
}

// appendFloat writes f as encoding/json does (ES6 number formatting): the
// shortest representation that parses back to f, in exponent form only for
// very large or small magnitudes. NaN and ±Inf have no JSON form: null.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 → 1e-7, as ES6 and encoding/json write it.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

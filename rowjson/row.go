package rowjson

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// AppendRow appends row i of rec as one JSON object, keys in schema order,
// without a line end, and returns the extended buffer: the raw row of every
// dead letter made from a decoded row (a transform's, a window's). Nulls are null; strings, numbers
// and bools are themselves; timestamps are RFC 3339 strings in UTC;
// non-finite floats (which JSON cannot hold) are the strings "NaN", "+Inf"
// and "-Inf"; binary values are base64 strings; any other type is the string
// Arrow's ValueStr gives.
func AppendRow(buf []byte, rec arrow.RecordBatch, i int) []byte {
	buf = append(buf, '{')
	for c, f := range rec.Schema().Fields() {
		if c > 0 {
			buf = append(buf, ',')
		}
		buf = AppendString(buf, f.Name)
		buf = append(buf, ':')
		buf = appendJSONValue(buf, rec.Column(c), i)
	}
	return append(buf, '}')
}

func appendJSONValue(buf []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(buf, "null"...)
	}
	switch c := col.(type) {
	case *array.String:
		return AppendString(buf, c.Value(i))
	case *array.LargeString:
		return AppendString(buf, c.Value(i))
	case *array.Int64:
		return strconv.AppendInt(buf, c.Value(i), 10)
	case *array.Int32:
		return strconv.AppendInt(buf, int64(c.Value(i)), 10)
	case *array.Uint64:
		return strconv.AppendUint(buf, c.Value(i), 10)
	case *array.Float64:
		return appendJSONFloat(buf, c.Value(i))
	case *array.Float32:
		return appendJSONFloat(buf, float64(c.Value(i)))
	case *array.Boolean:
		return strconv.AppendBool(buf, c.Value(i))
	case *array.Timestamp:
		unit := c.DataType().(*arrow.TimestampType).Unit
		buf = append(buf, '"')
		buf = c.Value(i).ToTime(unit).AppendFormat(buf, time.RFC3339Nano)
		return append(buf, '"')
	case *array.Binary:
		buf = append(buf, '"')
		buf = base64.StdEncoding.AppendEncode(buf, c.Value(i))
		return append(buf, '"')
	default:
		return AppendString(buf, col.ValueStr(i))
	}
}

func appendJSONFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"+Inf"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Inf"`...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

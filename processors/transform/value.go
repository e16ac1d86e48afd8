package transform

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shardflow/shardflow/processors/decode"
)

// TimestampType is the Arrow type of timestamp columns, as decode makes them.
var TimestampType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// ArrowType returns the Arrow type of a declared column type.
func ArrowType(t decode.FieldType) (arrow.DataType, error) {
	switch t {
	case decode.String:
		return arrow.BinaryTypes.String, nil
	case decode.Int64:
		return arrow.PrimitiveTypes.Int64, nil
	case decode.Float64:
		return arrow.PrimitiveTypes.Float64, nil
	case decode.Bool:
		return arrow.FixedWidthTypes.Boolean, nil
	case decode.Timestamp:
		return TimestampType, nil
	}
	return nil, fmt.Errorf("unknown type %q (want string, int64, float64, bool, timestamp)", t)
}

// Value is one cell of a computed column of a declared type: Int holds
// int64 values and timestamps (microseconds since the epoch, UTC).
type Value struct {
	Valid bool // false: null
	Int   int64
	Float float64
	Bool  bool
	Str   string
}

// AppendValue appends v to b, a builder of one of the types ArrowType
// returns (v's field for that type is the one used).
func AppendValue(b array.Builder, v *Value) {
	if !v.Valid {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.StringBuilder:
		b.Append(v.Str)
	case *array.Int64Builder:
		b.Append(v.Int)
	case *array.Float64Builder:
		b.Append(v.Float)
	case *array.BooleanBuilder:
		b.Append(v.Bool)
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(v.Int))
	default:
		panic(fmt.Sprintf("transform: AppendValue to a %T", b))
	}
}

package pipeline

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/processors/decode"
)

// DecodeFormat is the record format source.format and its options describe.
func (s SourceConfig) DecodeFormat() decode.Format {
	return decode.Format{Type: decode.FormatType(s.Format), CSV: s.CSV, Regex: s.Regex, Timezone: s.Timezone}
}

// newDecoder builds a decoder of the pipeline's schema and source format.
func (c *Config) newDecoder(mem memory.Allocator) (*decode.Decoder, error) {
	return decode.NewFormat(mem, c.Schema, c.Source.DecodeFormat())
}

// decoderErrors names the problems decode.NewFormat reports by their paths
// in the pipeline file: a field's as schema[i].key, a format option's as
// source.key.
func decoderErrors(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		var fe *decode.FieldError
		var fo *decode.FormatError
		switch {
		case errors.As(err, &fe) && fe == err:
			path := "schema"
			if fe.Index >= 0 {
				path = fmt.Sprintf("schema[%d].%s", fe.Index, fe.Key)
			}
			out = append(out, &FieldError{Path: path, Msg: fe.Msg})
		case errors.As(err, &fo) && fo == err:
			out = append(out, &FieldError{Path: "source." + fo.Key, Msg: fo.Msg})
		default:
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			out = append(out, err)
		}
	}
	walk(err)
	return out
}

package pipeline

import (
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

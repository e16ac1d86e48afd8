package encode

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Parquet defaults.
const (
	DefaultRowGroupRows  = 128 * 1024
	DefaultRowGroupBytes = 64 << 20
	writeChunk           = 16 * 1024
)

// ParquetOptions configures a ParquetWriter.
type ParquetOptions struct {
	// Compression is "snappy" (the default), "zstd" or "none".
	Compression string
	// RowGroupRows caps the rows of one row group (default 131,072).
	RowGroupRows int
	// RowGroupBytes starts a new row group once the current one holds about
	// this many encoded bytes (default 64 MiB; checked every 16,384 rows and
	// counting finished pages only). A row group is buffered in memory until
	// it is complete, so this bounds the writer's memory.
	RowGroupBytes int64
	// Allocator serves the writer's buffers (default memory.DefaultAllocator).
	Allocator memory.Allocator
}

// ParquetWriter writes record batches as one Parquet file to an io.Writer:
// rows accumulate in a row group buffered in memory (encoded and compressed
// page by page as they arrive) and the row group is written out when it
// reaches RowGroupRows or RowGroupBytes, or at Close, which also writes the
// footer. Columns map as utf8 → BYTE_ARRAY (STRING), int64 → INT64, float64
// → DOUBLE, bool → BOOLEAN and timestamp[us] → INT64
// TIMESTAMP(MICROS, isAdjustedToUTC=true); a nullable field is OPTIONAL,
// a non-nullable one REQUIRED. Values are stored as they are (strings byte
// for byte, floats bit for bit, NaN and ±Inf included), except that the
// dictionary encoder keeps one NaN per column chunk: a NaN stays a NaN, its
// payload bits may not.
//
// Write copies what it needs before it returns, so the caller may release
// the batch right after. A ParquetWriter is not safe for concurrent use.
type ParquetWriter struct {
	fw      *pqarrow.FileWriter
	out     *countingWriter
	schema  *arrow.Schema // what callers pass
	written *arrow.Schema // what pqarrow writes: timestamps carry a zone
	relabel []int         // columns whose type must be relabelled to written's
	opts    ParquetOptions
	rgRows  int // rows in the current row group
	rows    int64
	closed  bool
	err     error
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ParquetCodec maps a Compression option to the codec; "" is snappy.
func ParquetCodec(name string) (compress.Compression, error) {
	switch name {
	case "", "snappy":
		return compress.Codecs.Snappy, nil
	case "zstd":
		return compress.Codecs.Zstd, nil
	case "none", "uncompressed":
		return compress.Codecs.Uncompressed, nil
	}
	return 0, fmt.Errorf("encode: parquet compression %q: want snappy, zstd or none", name)
}

// NewParquet starts a Parquet file for batches of schema on w. Columns must
// be utf8, int64, float64, bool or timestamp[us]; anything else is an error
// naming the column. A timestamp without a time zone is written as UTC.
func NewParquet(w io.Writer, schema *arrow.Schema, opts ParquetOptions) (*ParquetWriter, error) {
	codec, err := ParquetCodec(opts.Compression)
	if err != nil {
		return nil, err
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	if opts.Allocator == nil {
		opts.Allocator = memory.DefaultAllocator
	}
	pw := &ParquetWriter{out: &countingWriter{w: w}, schema: schema, written: schema, opts: opts}
	fields := schema.Fields()
	for i, f := range fields {
		if err := checkColumn(i, f, "Parquet"); err != nil {
			return nil, err
		}
		// isAdjustedToUTC follows the zone: the values are UTC instants
		// whatever the zone says, so a missing one must not make them local.
		if ts, ok := f.Type.(*arrow.TimestampType); ok && ts.TimeZone == "" {
			fields[i].Type = &arrow.TimestampType{Unit: ts.Unit, TimeZone: "UTC"}
			pw.relabel = append(pw.relabel, i)
		}
	}
	if len(pw.relabel) > 0 {
		md := schema.Metadata()
		pw.written = arrow.NewSchema(fields, &md)
	}
	props := parquet.NewWriterProperties(
		parquet.WithAllocator(opts.Allocator),
		parquet.WithCompression(codec),
		parquet.WithMaxRowGroupLength(int64(opts.RowGroupRows)),
		parquet.WithRootRepetition(parquet.Repetitions.Required),
		// created_by stays arrow-go's "parquet-go version X.Y.Z": readers
		// (parquet-mr, Spark) ignore string statistics of a file whose
		// created_by they cannot parse.
	)
	fw, err := pqarrow.NewFileWriter(pw.written, pw.out, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(opts.Allocator)))
	if err != nil {
		return nil, fmt.Errorf("encode: parquet writer: %w", err)
	}
	pw.fw = fw
	return pw, nil
}

// Schema returns the schema the writer was built for.
func (pw *ParquetWriter) Schema() *arrow.Schema { return pw.schema }

// Write appends rec's rows. rec must have the writer's schema. After an
// error the file is unusable: Close it and discard what was written.
func (pw *ParquetWriter) Write(rec arrow.RecordBatch) error {
	switch {
	case pw.closed:
		return errors.New("encode: parquet write after Close")
	case pw.err != nil:
		return pw.err
	case !rec.Schema().Equal(pw.schema):
		return fmt.Errorf("encode: parquet: record schema %s does not match the writer's %s", rec.Schema(), pw.schema)
	}
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	if len(pw.relabel) > 0 {
		rec = pw.relabelled(rec)
		defer rec.Release()
	}
	for off := 0; off < n; {
		if pw.rgRows >= pw.opts.RowGroupRows || (pw.rgRows > 0 && pw.fw.RowGroupTotalCompressedBytes() >= pw.opts.RowGroupBytes) {
			if err := pw.fw.NewBufferedRowGroupChecked(); err != nil {
				return pw.fail(err)
			}
			pw.rgRows = 0
		}
		// At most writeChunk rows at a time, so RowGroupBytes is checked
		// inside a large batch too.
		k := min(n-off, pw.opts.RowGroupRows-pw.rgRows, writeChunk)
		part := rec
		if k < n {
			part = rec.NewSlice(int64(off), int64(off+k))
		}
		err := pw.fw.WriteBuffered(part)
		if k < n {
			part.Release()
		}
		if err != nil {
			return pw.fail(err)
		}
		pw.rgRows += k
		pw.rows += int64(k)
		off += k
	}
	return nil
}

func (pw *ParquetWriter) fail(err error) error {
	pw.err = fmt.Errorf("encode: parquet write: %w", err)
	return pw.err
}

// relabelled returns rec with the timestamp columns typed as written (same
// buffers, zone added). The caller releases it.
func (pw *ParquetWriter) relabelled(rec arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	copy(cols, rec.Columns())
	for _, i := range pw.relabel {
		d := cols[i].Data()
		nd := array.NewData(pw.written.Field(i).Type, d.Len(), d.Buffers(), nil, d.NullN(), d.Offset())
		cols[i] = array.MakeFromData(nd)
		nd.Release()
	}
	out := array.NewRecordBatch(pw.written, cols, rec.NumRows())
	for _, i := range pw.relabel {
		cols[i].Release()
	}
	return out
}

// Rows returns the number of rows written so far.
func (pw *ParquetWriter) Rows() int64 { return pw.rows }

// BytesWritten returns the number of bytes written to the io.Writer so far:
// complete row groups (and, after Close, the footer).
func (pw *ParquetWriter) BytesWritten() int64 { return pw.out.n }

// BufferedBytes estimates the encoded bytes of the row group not yet written
// out. It counts finished pages; values of the page in progress and a
// dictionary not yet flushed are not counted.
func (pw *ParquetWriter) BufferedBytes() int64 {
	if pw.closed || pw.rgRows == 0 {
		return 0
	}
	return pw.fw.RowGroupTotalCompressedBytes()
}

// Close writes the buffered row group and the footer. It does not close the
// io.Writer. Close is idempotent; it returns the first error of the writer.
func (pw *ParquetWriter) Close() error {
	if pw.closed {
		return pw.err
	}
	pw.closed = true
	if err := pw.fw.Close(); err != nil && pw.err == nil {
		pw.err = fmt.Errorf("encode: parquet close: %w", err)
	}
	return pw.err
}

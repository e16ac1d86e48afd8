package encode

import (
	"bytes"
	"fmt"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// ExampleCSV writes a header and rows for COPY ... CSV: the null country is
// an empty field, the empty page is "", the comma forces quotes.
func ExampleCSV() {
	d, _ := decode.New(memory.DefaultAllocator, []decode.Field{
		{Name: "page", Type: decode.String},
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "ts", Type: decode.Timestamp, Format: "unix_ms"},
		{Name: "price", Type: decode.Float64, Nullable: true},
	})
	defer d.Release()
	b, _ := d.Decode("shard", []flow.SourceRecord{
		{Data: []byte(`{"page":"/a,b","country":"DE","ts":1795323048123,"price":19.99}`)},
		{Data: []byte(`{"page":"","country":null,"ts":1795323048000}`)},
	})
	defer b.Record.Release()

	e, _ := NewCSV(d.Schema(), CSVOptions{})
	buf := append([]byte(nil), e.Header()...)
	for row := 0; row < b.Rows(); row++ {
		buf = e.AppendRow(buf, b.Record, row)
	}
	os.Stdout.Write(buf)
	// Output:
	// page,country,ts,price
	// "/a,b",DE,2026-11-22 04:50:48.123,19.99
	// "",,2026-11-22 04:50:48,
}

// ExampleNewParquet writes one batch as a zstd-compressed Parquet file.
func ExampleNewParquet() {
	d, _ := decode.New(memory.DefaultAllocator, []decode.Field{
		{Name: "user_id", Type: decode.String},
		{Name: "ts", Type: decode.Timestamp},
	})
	defer d.Release()
	b, _ := d.Decode("shard", []flow.SourceRecord{
		{Data: []byte(`{"user_id":"u-1","ts":"2026-11-22T04:50:48.123456Z"}`)},
		{Data: []byte(`{"user_id":"u-2","ts":"2026-11-22T04:50:49Z"}`)},
	})

	var file bytes.Buffer
	w, err := NewParquet(&file, d.Schema(), ParquetOptions{Compression: "zstd"})
	if err != nil {
		panic(err)
	}
	if err := w.Write(b.Record); err != nil {
		panic(err)
	}
	b.Record.Release() // the writer copied what it needs
	if err := w.Close(); err != nil {
		panic(err)
	}
	fmt.Println(w.Rows(), "rows;", w.BytesWritten() == int64(file.Len()), bytes.HasPrefix(file.Bytes(), []byte("PAR1")))
	// Output: 2 rows; true true
}

package encode

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// clickBatch decodes rows click events of the reference workload (about
// 300 bytes of JSON each) into one batch.
func clickBatch(b *testing.B, rows int) *flow.Batch {
	b.Helper()
	d, err := decode.New(memory.NewGoAllocator(), []decode.Field{
		{Name: "event_id", Type: decode.String},
		{Name: "user_id", Type: decode.String},
		{Name: "page", Type: decode.String},
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "ts", Type: decode.Timestamp},
		{Name: "price", Type: decode.Float64, Nullable: true},
		{Name: "user_agent", Type: decode.String, Nullable: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Release()
	recs := make([]flow.SourceRecord, rows)
	for i := range recs {
		recs[i].Data = fmt.Appendf(nil, `{"event_id":"6f1c%04x-9a2b-4c3d-8e4f-%012x","user_id":"u-%05d","page":"/products/%d",`+
			`"country":"DE","ts":"2026-11-22T04:50:%02d.%03dZ","price":%d.99,`+
			`"user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"}`,
			i%65536, i, i%100000, i%1000, i%60, i%1000, i%100)
	}
	batch, dead := d.Decode("shard-0", recs)
	if len(dead) != 0 {
		b.Fatal(dead[0].Reason)
	}
	return batch
}

// rowEncoder is what BenchmarkNDJSON and BenchmarkCSV measure.
type rowEncoder interface {
	AppendRow(dst []byte, rec arrow.RecordBatch, row int) []byte
}

// benchmarkRows encodes decoded click events (the reference workload) into
// one reused buffer, as an output packing Firehose records does.
func benchmarkRows(b *testing.B, newEncoder func(*arrow.Schema) (rowEncoder, error)) {
	const rows = 1000
	batch := clickBatch(b, rows)
	defer batch.Record.Release()
	e, err := newEncoder(batch.Record.Schema())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1<<20)
	for row := range rows {
		buf = e.AppendRow(buf, batch.Record, row)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		buf = buf[:0]
		for row := range rows {
			buf = e.AppendRow(buf, batch.Record, row)
		}
	}
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * rows
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
}

func BenchmarkNDJSON(b *testing.B) {
	benchmarkRows(b, func(s *arrow.Schema) (rowEncoder, error) { return NewNDJSON(s) })
}

func BenchmarkCSV(b *testing.B) {
	benchmarkRows(b, func(s *arrow.Schema) (rowEncoder, error) { return NewCSV(s, CSVOptions{}) })
}

// BenchmarkParquet writes ten different 10,000-row batches of click events
// from the reference workload generator (random event ids, 50,000 users) into
// one file per iteration. MB/s is measured on the events' JSON, the input the
// pipeline decoded; file-bytes/record is the Parquet size per event.
func BenchmarkParquet(b *testing.B) {
	const rows, batches = 10000, 10
	d, err := decode.New(memory.NewGoAllocator(), []decode.Field{
		{Name: "event_id", Type: decode.String},
		{Name: "user_id", Type: decode.String},
		{Name: "page", Type: decode.String},
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "ts", Type: decode.Timestamp},
		{Name: "price", Type: decode.Float64, Nullable: true},
		{Name: "user_agent", Type: decode.String, Nullable: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Release()
	gen := workload.New(workload.Config{Seed: 1, Total: rows * batches})
	var recs []arrow.RecordBatch
	var jsonBytes int64
	for range batches {
		src := make([]flow.SourceRecord, rows)
		for i := range src {
			ev := gen.Next()
			src[i].Data = ev.AppendJSON(nil)
			jsonBytes += int64(len(src[i].Data))
		}
		batch, dead := d.Decode("shard-0", src)
		if len(dead) != 0 {
			b.Fatal(dead[0].Reason)
		}
		defer batch.Record.Release()
		recs = append(recs, batch.Record)
	}
	for _, comp := range []string{"snappy", "zstd", "none"} {
		b.Run(comp, func(b *testing.B) {
			b.SetBytes(jsonBytes)
			b.ReportAllocs()
			var out countingDiscard
			for b.Loop() {
				out = 0
				w, err := NewParquet(&out, d.Schema(), ParquetOptions{Compression: comp})
				if err != nil {
					b.Fatal(err)
				}
				for _, rec := range recs {
					if err := w.Write(rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*rows*batches/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(out)/float64(rows*batches), "file-bytes/record")
			b.ReportMetric(float64(jsonBytes)/float64(rows*batches), "json-bytes/record")
		})
	}
}

type countingDiscard int64

func (c *countingDiscard) Write(p []byte) (int, error) {
	*c += countingDiscard(len(p))
	return len(p), nil
}

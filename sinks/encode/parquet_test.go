package encode

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randRows are random rows of allTypes with nulls, awkward strings
// (including invalid UTF-8 and NUL, which Parquet stores as they are) and
// special floats (NaN and ±Inf too: Parquet keeps their bits).
func randRows(r *rand.Rand, n int) []row {
	floats := []float64{0, math.Copysign(0, -1), 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1),
		math.NaN(), math.Float64frombits(0x7ff8dead00000001)}
	rows := make([]row, n)
	for k := range rows {
		rw := &rows[k]
		if r.IntN(5) > 0 {
			s := awkwardStrings[r.IntN(len(awkwardStrings))]
			if r.IntN(2) == 0 {
				s = randText(r)
			}
			rw.s = p(s)
		}
		if r.IntN(5) > 0 {
			rw.i = p([]int64{r.Int64() - r.Int64(), math.MinInt64, math.MaxInt64, 0}[r.IntN(4)])
		}
		if r.IntN(5) > 0 {
			f := randFloat(r)
			if r.IntN(4) == 0 {
				f = floats[r.IntN(len(floats))]
			}
			rw.f = p(f)
		}
		if r.IntN(5) > 0 {
			rw.b = p(r.IntN(2) == 0)
		}
		if r.IntN(5) > 0 {
			rw.ts = p(r.Int64() - r.Int64())
		}
	}
	return rows
}

// poisonAllocator overwrites memory when it is freed, so that a writer that
// kept a pointer into a released batch would write garbage.
type poisonAllocator struct{ memory.Allocator }

func (a poisonAllocator) Free(b []byte) {
	for i := range b {
		b[i] = 0xa5
	}
	a.Allocator.Free(b)
}

func TestParquetRoundTrip(t *testing.T) {
	for _, comp := range []struct{ opt, codec string }{{"", "SNAPPY"}, {"snappy", "SNAPPY"}, {"zstd", "ZSTD"}, {"none", "UNCOMPRESSED"}} {
		t.Run(comp.codec+"/"+comp.opt, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			batchMem := memory.NewCheckedAllocator(poisonAllocator{memory.NewGoAllocator()})
			defer batchMem.AssertSize(t, 0)

			var buf bytes.Buffer
			w, err := NewParquet(&buf, allTypes, ParquetOptions{Compression: comp.opt, RowGroupRows: 300, Allocator: mem})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			var all []row
			for _, n := range []int{1, 0, 299, 1, 700, 37, 300} {
				rows := randRows(r, n)
				all = append(all, rows...)
				rec := buildRecord(t, batchMem, rows)
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
				rec.Release() // poisoned now: the writer must have copied
			}
			if w.BytesWritten() == 0 {
				t.Error("no row group written before Close although several are full")
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.BytesWritten() != int64(buf.Len()) || w.Rows() != int64(len(all)) {
				t.Errorf("BytesWritten %d (file %d), Rows %d (wrote %d)", w.BytesWritten(), buf.Len(), w.Rows(), len(all))
			}

			got := readParquetIndependently(t, buf.Bytes())
			wantCols := []pqColumn{
				{"s", "BYTE_ARRAY", "STRING", "OPTIONAL"},
				{"i", "INT64", "INT(64,true)", "OPTIONAL"},
				{"f", "DOUBLE", "", "OPTIONAL"},
				{"b", "BOOLEAN", "", "OPTIONAL"},
				{"ts", "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "OPTIONAL"},
			}
			for i, c := range wantCols {
				if got.columns[i] != c {
					t.Errorf("column %d: %+v, want %+v", i, got.columns[i], c)
				}
			}
			if want := []int64{300, 300, 300, 300, 138}; !equalInts(got.rowGroups, want) {
				t.Errorf("row groups %v, want %v", got.rowGroups, want)
			}
			for i, c := range got.codecs {
				if c != comp.codec {
					t.Errorf("column chunk %d codec %s, want %s", i, c, comp.codec)
				}
			}
			if len(got.rows) != len(all) {
				t.Fatalf("%d rows read, %d written", len(got.rows), len(all))
			}
			for i, r := range all {
				if want := wantCells(r); !cellsEqual(got.rows[i], want) {
					t.Fatalf("row %d:\n got  %#v\n want %#v", i, got.rows[i], want)
				}
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestParquetRequiredAndZoneless: non-nullable fields are REQUIRED, and a
// timestamp without a zone is still written as UTC-adjusted.
func TestParquetRequiredAndZoneless(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond}},
		{Name: "ts_opt", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
	}, nil)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	sb := array.NewStringBuilder(mem)
	tb := array.NewTimestampBuilder(mem, schema.Field(1).Type.(*arrow.TimestampType))
	ob := array.NewTimestampBuilder(mem, schema.Field(2).Type.(*arrow.TimestampType))
	us := time.Date(2026, 11, 22, 4, 50, 48, 123456000, time.UTC).UnixMicro()
	for i := range 3 {
		sb.Append(strings.Repeat("x", i))
		tb.Append(arrow.Timestamp(us + int64(i)))
		if i == 1 {
			ob.AppendNull()
		} else {
			ob.Append(arrow.Timestamp(-us))
		}
	}
	cols := []arrow.Array{sb.NewArray(), tb.NewArray(), ob.NewArray()}
	sb.Release()
	tb.Release()
	ob.Release()
	rec := array.NewRecordBatch(schema, cols, 3)
	for _, c := range cols {
		c.Release()
	}
	var buf bytes.Buffer
	w, err := NewParquet(&buf, schema, ParquetOptions{Compression: "zstd", Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	slice := rec.NewSlice(1, 3) // an offset slice is relabelled too
	rec.Release()
	if err := w.Write(slice); err != nil {
		t.Fatal(err)
	}
	slice.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !w.Schema().Equal(schema) {
		t.Error("Schema() is not the caller's schema")
	}
	got := readParquetIndependently(t, buf.Bytes())
	want := []pqColumn{
		{"id", "BYTE_ARRAY", "STRING", "REQUIRED"},
		{"ts", "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "REQUIRED"},
		{"ts_opt", "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", "OPTIONAL"},
	}
	for i := range want {
		if got.columns[i] != want[i] {
			t.Errorf("column %d: %+v, want %+v", i, got.columns[i], want[i])
		}
	}
	wantRows := [][]any{{"x", us + 1, nil}, {"xx", us + 2, -us}}
	for i := range wantRows {
		if !cellsEqual(got.rows[i], wantRows[i]) {
			t.Errorf("row %d: %#v, want %#v", i, got.rows[i], wantRows[i])
		}
	}
}

// TestParquetRowGroupBytes: a row group is written out once it holds about
// RowGroupBytes, long before RowGroupRows.
func TestParquetRowGroupBytes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	var buf bytes.Buffer
	w, err := NewParquet(&buf, allTypes, ParquetOptions{Compression: "none", RowGroupBytes: 256 << 10, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	total := 0
	for range 40 {
		rows := make([]row, 500)
		for i := range rows {
			rows[i].s = p(strings.Repeat(randText(r), 10))
		}
		total += len(rows)
		rec := buildRecord(t, mem, rows)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		if w.BufferedBytes() > 2<<20 {
			t.Fatalf("%d bytes buffered: the row group is not bounded", w.BufferedBytes())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readParquetIndependently(t, buf.Bytes())
	if len(got.rowGroups) < 5 || len(got.rows) != total {
		t.Errorf("%d row groups, %d rows (wrote %d)", len(got.rowGroups), len(got.rows), total)
	}
}

func TestNewParquetRejects(t *testing.T) {
	if _, err := NewParquet(&bytes.Buffer{}, allTypes, ParquetOptions{Compression: "gzip"}); err == nil || !strings.Contains(err.Error(), `compression "gzip"`) {
		t.Errorf("gzip: %v", err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil)
	if _, err := NewParquet(&bytes.Buffer{}, schema, ParquetOptions{}); err == nil || !strings.Contains(err.Error(), `column 0 "x": type int32 is not supported by Parquet`) {
		t.Errorf("int32: %v", err)
	}
	w, err := NewParquet(&bytes.Buffer{}, allTypes, ParquetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt32Builder(memory.DefaultAllocator)
	b.Append(1)
	col := b.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, 1)
	col.Release()
	b.Release()
	defer rec.Release()
	if err := w.Write(rec); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong schema: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestParquetRowGroupBytesInOneBatch: a single large batch is cut into row
// groups by size too.
func TestParquetRowGroupBytesInOneBatch(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(5, 6))
	rows := make([]row, 60000)
	for i := range rows {
		rows[i].s = p(strings.Repeat(randText(r), 8)) // ~100 bytes, pages fill
		rows[i].i = p(int64(i))
	}
	rec := buildRecord(t, mem, rows)
	var buf bytes.Buffer
	w, err := NewParquet(&buf, allTypes, ParquetOptions{Compression: "none", RowGroupBytes: 1 << 20, Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := readParquetIndependently(t, buf.Bytes())
	if len(got.rowGroups) < 3 || len(got.rows) != len(rows) {
		t.Fatalf("%d row groups %v, %d rows", len(got.rowGroups), got.rowGroups, len(got.rows))
	}
	for i, c := range got.rows {
		if c[1] != int64(i) {
			t.Fatalf("row %d out of order: %v", i, c)
		}
	}
}

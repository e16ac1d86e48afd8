package encode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// pqFile is a Parquet file as github.com/parquet-go/parquet-go reads it: an
// implementation that shares no code with arrow-go, so agreement is
// evidence the files follow the format rather than one library's habits.
type pqFile struct {
	columns   []pqColumn
	rowGroups []int64  // rows per row group
	codecs    []string // codec per column chunk of the first row group
	// rows holds one cell per column: string, int64, float64 bits (uint64;
	// "NaN" for any NaN), bool, or nil for a null. Timestamps are int64 (their logical type says
	// microseconds).
	rows [][]any
}

type pqColumn struct {
	name, physical, logical, repetition string
}

func readParquetIndependently(t testing.TB, data []byte) *pqFile {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet-go: open: %v", err)
	}
	out := &pqFile{}
	md := f.Metadata()
	for _, el := range md.Schema[1:] { // [0] is the root
		if el.NumChildren.Valid && el.NumChildren.V > 0 {
			t.Fatalf("parquet-go: nested column %q", el.Name)
		}
		out.columns = append(out.columns, pqColumn{
			name:       el.Name,
			physical:   el.Type.V.String(),
			logical:    el.LogicalType.String(),
			repetition: el.RepetitionType.V.String(),
		})
	}
	for i, rg := range md.RowGroups {
		out.rowGroups = append(out.rowGroups, rg.NumRows)
		if i == 0 {
			for _, cc := range rg.Columns {
				out.codecs = append(out.codecs, cc.MetaData.Codec.String())
			}
		}
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, r := range buf[:n] {
				out.rows = append(out.rows, pqCells(t, out.columns, r))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("parquet-go: read rows: %v", err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if int64(len(out.rows)) != f.NumRows() {
		t.Fatalf("parquet-go: read %d rows, footer says %d", len(out.rows), f.NumRows())
	}
	return out
}

func pqCells(t testing.TB, cols []pqColumn, r parquet.Row) []any {
	t.Helper()
	cells := make([]any, len(cols))
	seen := make([]bool, len(cols))
	for _, v := range r {
		c := v.Column()
		if c < 0 || c >= len(cols) || seen[c] {
			t.Fatalf("parquet-go: unexpected value for column %d in row %v", c, r)
		}
		seen[c] = true
		if v.IsNull() {
			continue
		}
		switch cols[c].physical {
		case "BYTE_ARRAY":
			cells[c] = string(v.ByteArray())
		case "INT64":
			cells[c] = v.Int64()
		case "DOUBLE":
			cells[c] = floatCell(v.Double())
		case "BOOLEAN":
			cells[c] = v.Boolean()
		default:
			t.Fatalf("parquet-go: column %q has physical type %s", cols[c].name, cols[c].physical)
		}
	}
	for c, ok := range seen {
		if !ok {
			t.Fatalf("parquet-go: no value for column %d in row %v", c, r)
		}
	}
	return cells
}

// floatCell is f's bits, or "NaN" for any NaN: arrow-go's dictionary
// encoder keeps one NaN per column chunk, so payloads are not preserved.
func floatCell(f float64) any {
	if math.IsNaN(f) {
		return "NaN"
	}
	return math.Float64bits(f)
}

// wantCells is what readParquetIndependently should give for row r of
// allTypes.
func wantCells(r row) []any {
	cells := make([]any, 5)
	if r.s != nil {
		cells[0] = *r.s
	}
	if r.i != nil {
		cells[1] = *r.i
	}
	if r.f != nil {
		cells[2] = floatCell(*r.f)
	}
	if r.b != nil {
		cells[3] = *r.b
	}
	if r.ts != nil {
		cells[4] = *r.ts
	}
	return cells
}

func cellsEqual(a, b []any) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

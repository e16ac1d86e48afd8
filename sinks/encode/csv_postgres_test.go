package encode

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/shardflow/shardflow/internal/testenv"
)

// awkwardStrings are the values a CSV dialect gets wrong first.
var awkwardStrings = []string{
	"", " ", "  ", "\t", "a", `"`, `""`, `"quoted"`, `say "hi"`, ",", "a,b", ",,", "a\nb", "\n", "\r", "\r\n", "a\r\nb",
	" lead", "trail ", " both ", "\tlead", "trail\t", "in side", `\.`, `\`, `\N`, `\\N`, "NULL", "null",
	"é€😀 日本 🇩🇪", "\u2028\u2029", "\ufeffbom", "a\xffb", "\xed\xa0\x80", "\x01\x1f\x7f", "#comment", "'single'",
	"=1+1", strings.Repeat("long,\"text\"\n", 200),
}

func openPostgres(t *testing.T) *pgx.Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local stack's PostgreSQL (make up); skipped with -short")
	}
	url := testenv.Load(t).PostgresDB(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func copyCSV(conn *pgx.Conn, sql string, data []byte) error {
	_, err := conn.PgConn().CopyFrom(context.Background(), bytes.NewReader(data), sql)
	return err
}

// TestCSVPostgresRoundTrip loads what the encoder writes into PostgreSQL
// with COPY ... (FORMAT csv) and its default NULL (an unquoted empty field),
// reads it back and compares every value: NULL vs "", awkward strings,
// int64 extremes, float64 bit for bit, bools and timestamps to the
// microsecond.
func TestCSVPostgresRoundTrip(t *testing.T) {
	conn := openPostgres(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		opts   CSVOptions
		with   string
		header bool
	}{
		{"defaults", CSVOptions{}, "FORMAT csv", false},
		{"header", CSVOptions{}, "FORMAT csv, HEADER true", true},
		{"pipe and null marker", CSVOptions{Delimiter: '|', Null: `\N`}, `FORMAT csv, DELIMITER '|', NULL '\N'`, false},
		{"tab", CSVOptions{Delimiter: '\t'}, "FORMAT csv, DELIMITER E'\\t'", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			rows := postgresRows(rand.New(rand.NewPCG(5, uint64(len(tt.name)))))
			rec := buildRecord(t, mem, rows)
			defer rec.Release()
			e, err := NewCSV(allTypes, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var data []byte
			if tt.header {
				data = append(data, e.Header()...)
			}
			for i := range rows {
				data = e.AppendRow(data, rec, i)
			}
			table := pgx.Identifier{"t_" + strings.ReplaceAll(tt.name, " ", "_")}.Sanitize()
			if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (n bigserial PRIMARY KEY, s text, i bigint, f float8, b boolean, ts timestamp)"); err != nil {
				t.Fatal(err)
			}
			if err := copyCSV(conn, "COPY "+table+" (s, i, f, b, ts) FROM STDIN ("+tt.with+")", data); err != nil {
				t.Fatalf("COPY: %v", err)
			}
			got, err := conn.Query(ctx, "SELECT s, i, f, b, ts FROM "+table+" ORDER BY n")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for ; got.Next(); n++ {
				var (
					s  *string
					i  *int64
					f  *float64
					b  *bool
					ts *time.Time
				)
				if err := got.Scan(&s, &i, &f, &b, &ts); err != nil {
					t.Fatal(err)
				}
				checkPostgresRow(t, n, rows[n], s, i, f, b, ts)
			}
			if err := got.Err(); err != nil {
				t.Fatal(err)
			}
			if n != len(rows) {
				t.Fatalf("%d rows loaded, wrote %d", n, len(rows))
			}
		})
	}
}

// postgresRows are the awkward strings, each once as a value next to
// special numbers, then random rows. NUL bytes are left out: PostgreSQL
// cannot store them in text (TestCSVPostgresRefusesNUL).
func postgresRows(r *rand.Rand) []row {
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	floats := []float64{0, math.Copysign(0, -1), 5e-324, math.MaxFloat64, -math.MaxFloat64, 1e21, 1e-7, tenth + 0.2,
		math.NaN(), math.Inf(1), math.Inf(-1)}
	ints := []int64{0, -1, math.MinInt64, math.MaxInt64}
	tss := []int64{lo, hi, 0, -1, 1, 1_500_000}
	var rows []row
	for k, s := range awkwardStrings {
		rows = append(rows, row{p(s), p(ints[k%len(ints)]), p(floats[k%len(floats)]), p(k%2 == 0), p(tss[k%len(tss)])})
	}
	rows = append(rows, row{}, row{s: p("")}, row{s: p("")}, row{})
	for range 500 {
		var rw row
		if r.IntN(4) > 0 {
			var sb strings.Builder
			for n := r.IntN(12); n > 0; n-- {
				sb.WriteString(awkwardStrings[r.IntN(len(awkwardStrings)-1)])
			}
			rw.s = p(sb.String())
		}
		if r.IntN(4) > 0 {
			rw.i = p(r.Int64() - r.Int64())
		}
		if r.IntN(4) > 0 {
			rw.f = p(randFloat(r))
		}
		if r.IntN(4) > 0 {
			rw.b = p(r.IntN(2) == 0)
		}
		if r.IntN(4) > 0 {
			rw.ts = p(lo + r.Int64N(hi-lo+1))
		}
		rows = append(rows, rw)
	}
	return rows
}

func checkPostgresRow(t *testing.T, n int, want row, s *string, i *int64, f *float64, b *bool, ts *time.Time) {
	t.Helper()
	switch {
	case (want.s == nil) != (s == nil):
		t.Fatalf("row %d: s = %v, wrote %v (NULL vs value)", n, deref(s), deref(want.s))
	case s != nil && *s != perByteReplacement(*want.s):
		t.Fatalf("row %d: s = %q, wrote %q", n, *s, *want.s)
	}
	if (want.i == nil) != (i == nil) || (i != nil && *i != *want.i) {
		t.Fatalf("row %d: i = %v, wrote %v", n, deref(i), deref(want.i))
	}
	wantF := want.f
	if wantF != nil && (math.IsNaN(*wantF) || math.IsInf(*wantF, 0)) {
		wantF = nil // written as NULL
	}
	if (wantF == nil) != (f == nil) || (f != nil && math.Float64bits(*f) != math.Float64bits(*wantF)) {
		t.Fatalf("row %d: f = %v, wrote %v", n, deref(f), deref(want.f))
	}
	if (want.b == nil) != (b == nil) || (b != nil && *b != *want.b) {
		t.Fatalf("row %d: b = %v, wrote %v", n, deref(b), deref(want.b))
	}
	if (want.ts == nil) != (ts == nil) || (ts != nil && ts.UnixMicro() != *want.ts) {
		t.Fatalf("row %d: ts = %v, wrote %v", n, deref(ts), deref(want.ts))
	}
}

func deref[T any](v *T) any {
	if v == nil {
		return "NULL"
	}
	return *v
}

// TestCSVPostgresSingleColumn covers the lines that are ambiguous only when
// a row is one field: `\.` alone is PostgreSQL's end-of-data marker (the
// encoder quotes it), and an empty line is one NULL.
func TestCSVPostgresSingleColumn(t *testing.T) {
	conn := openPostgres(t)
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	values := []*string{p(`\.`), nil, p(""), p("after"), p(`\.`), nil}
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	for _, v := range values {
		appendOr(sb, v, sb.Append)
	}
	col := sb.NewArray()
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(len(values)))
	col.Release()
	defer rec.Release()
	e, err := NewCSV(schema, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for i := range values {
		data = e.AppendRow(data, rec, i)
	}
	if want := "\"\\.\"\n\n\"\"\nafter\n\"\\.\"\n\n"; string(data) != want {
		t.Fatalf("encoded %q, want %q", data, want)
	}
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE TABLE one (n bigserial PRIMARY KEY, s text)"); err != nil {
		t.Fatal(err)
	}
	if err := copyCSV(conn, "COPY one (s) FROM STDIN (FORMAT csv)", data); err != nil {
		t.Fatalf("COPY: %v", err)
	}
	var got []*string
	r, err := conn.Query(ctx, "SELECT s FROM one ORDER BY n")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var s *string
		if err := r.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if len(got) != len(values) {
		t.Fatalf("%d rows loaded, wrote %d", len(got), len(values))
	}
	for i := range values {
		if deref(got[i]) != deref(values[i]) {
			t.Errorf("row %d: %v, wrote %v", i, deref(got[i]), deref(values[i]))
		}
	}
}

// TestCSVPostgresRefusesNUL documents why NUL bytes are the caller's
// problem: CSV has no escape for them and PostgreSQL rejects the load.
func TestCSVPostgresRefusesNUL(t *testing.T) {
	conn := openPostgres(t)
	rec := buildRecord(t, memory.DefaultAllocator, []row{{s: p("a\x00b")}})
	defer rec.Release()
	e, err := NewCSV(allTypes, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "CREATE TABLE nul (s text, i bigint, f float8, b boolean, ts timestamp)"); err != nil {
		t.Fatal(err)
	}
	err = copyCSV(conn, "COPY nul FROM STDIN (FORMAT csv)", e.AppendRow(nil, rec, 0))
	if err == nil || !strings.Contains(err.Error(), "0x00") {
		t.Fatalf("COPY of a NUL byte: err %v, want PostgreSQL's invalid byte sequence error", err)
	}
}

package encode

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestCSVRows(t *testing.T) {
	us := time.Date(2026, 11, 22, 4, 50, 48, 123456789, time.UTC).UnixMicro()
	tests := []struct {
		row  row
		want string
	}{
		{row{p("hello"), p(int64(42)), p(19.99), p(true), p(us)}, `hello,42,19.99,true,2026-11-22 04:50:48.123456`},
		{row{}, `,,,,`},
		{row{s: p(""), i: p(int64(math.MinInt64)), f: p(math.Copysign(0, -1)), b: p(false), ts: p(int64(0))},
			`"",-9223372036854775808,-0,false,1970-01-01 00:00:00`},
		{row{s: p(`say "hi"`), i: p(int64(math.MaxInt64))}, `"say ""hi""",9223372036854775807,,,`},
		{row{s: p(`"`)}, `"""",,,,`},
		{row{s: p("a,b")}, `"a,b",,,,`},
		{row{s: p("line1\nline2")}, "\"line1\nline2\",,,,"},
		{row{s: p("cr\r")}, "\"cr\r\",,,,"},
		{row{s: p("crlf\r\n")}, "\"crlf\r\n\",,,,"},
		{row{s: p(" lead")}, `" lead",,,,`},
		{row{s: p("trail ")}, `"trail ",,,,`},
		{row{s: p("\ttab")}, "\"\ttab\",,,,"},
		{row{s: p(" ")}, `" ",,,,`},
		{row{s: p("in side")}, `in side,,,,`},
		{row{s: p(`\.`)}, `"\.",,,,`},
		{row{s: p(`\N`)}, `\N,,,,`},
		{row{s: p(`back\slash`)}, `back\slash,,,,`},
		{row{s: p("é€😀 日本 \u2028")}, "é€😀 日本 \u2028,,,,"},
		{row{s: p("a\xffb\xed\xa0\x80c")}, "a\ufffdb\ufffd\ufffd\ufffdc,,,,"},
		{row{s: p("q\"\xff,")}, "\"q\"\"\ufffd,\",,,,"},
		{row{s: p("nul\x00ctl\x01")}, "nul\x00ctl\x01,,,,"},
		{row{f: p(math.NaN())}, `,,,,`},
		{row{f: p(math.Inf(1))}, `,,,,`},
		{row{f: p(math.Inf(-1))}, `,,,,`},
		{row{f: p(1e21)}, `,,1e+21,,`},
		{row{f: p(1e20)}, `,,100000000000000000000,,`},
		{row{f: p(1e-7)}, `,,1e-7,,`},
		{row{f: p(5e-324)}, `,,5e-324,,`},
		{row{f: p(tenth + 0.2)}, `,,0.30000000000000004,,`},
		{row{ts: p(int64(-1))}, `,,,,1969-12-31 23:59:59.999999`},
		{row{ts: p(int64(1_500_000))}, `,,,,1970-01-01 00:00:01.5`},
		{row{ts: p(int64(1_000_010))}, `,,,,1970-01-01 00:00:01.00001`},
		{row{ts: p(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())}, `,,,,0001-01-01 00:00:00`},
		{row{ts: p(time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro())}, `,,,,9999-12-31 23:59:59.999999`},
		{row{ts: p(time.Date(2000, 2, 29, 12, 0, 0, 120000000, time.UTC).UnixMicro())}, `,,,,2000-02-29 12:00:00.12`},
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	rows := make([]row, len(tests))
	for i, tt := range tests {
		rows[i] = tt.row
	}
	rec := buildRecord(t, mem, rows)
	defer rec.Release()
	e, err := NewCSV(allTypes, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if got := string(e.AppendRow(nil, rec, i)); got != tt.want+"\n" {
			t.Errorf("row %d:\n got  %q\n want %q", i, got, tt.want+"\n")
		}
	}
	if got := string(e.AppendRow([]byte("x"), rec, 1)); got != "x,,,,\n" {
		t.Errorf("append to non-empty buffer: %q", got)
	}
	if got := string(e.Header()); got != "s,i,f,b,ts\n" {
		t.Errorf("header %q", got)
	}
}

func TestCSVOptions(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a|b", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	fb := array.NewFloat64Builder(memory.DefaultAllocator)
	defer fb.Release()
	sb2 := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb2.Release()
	for _, v := range []struct {
		s  *string
		f  *float64
		s2 *string
	}{
		{p(`\N`), p(math.NaN()), nil},
		{p("x|y,z"), nil, p("")},
		{nil, p(1.5), p("tab\there")},
	} {
		appendOr(sb, v.s, sb.Append)
		appendOr(fb, v.f, fb.Append)
		appendOr(sb2, v.s2, sb2.Append)
	}
	cols := []arrow.Array{sb.NewArray(), fb.NewArray(), sb2.NewArray()}
	rec := array.NewRecordBatch(schema, cols, 3)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()

	e, err := NewCSV(schema, CSVOptions{Delimiter: '|', Null: `\N`})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`"\N"|\N|\N` + "\n",
		`"x|y,z"|\N|""` + "\n",
		`\N|1.5|tab` + "\t" + `here` + "\n",
	}
	for i, w := range want {
		if got := string(e.AppendRow(nil, rec, i)); got != w {
			t.Errorf("row %d: got %q, want %q", i, got, w)
		}
	}
	if got, want := string(e.Header()), `"a|b"|n|""`+"\n"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}

	tab, err := NewCSV(schema, CSVOptions{Delimiter: '\t'})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tab.AppendRow(nil, rec, 2)), "\t1.5\t\"tab\there\"\n"; got != want {
		t.Errorf("tab-delimited: got %q, want %q", got, want)
	}
}

func TestNewCSVRejects(t *testing.T) {
	good := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	for _, tt := range []struct {
		opts CSVOptions
		want string
	}{
		{CSVOptions{Delimiter: '"'}, "delimiter"},
		{CSVOptions{Delimiter: '\n'}, "delimiter"},
		{CSVOptions{Delimiter: '\r'}, "delimiter"},
		{CSVOptions{Delimiter: ' '}, "delimiter"},
		{CSVOptions{Delimiter: 0xe9}, "not ASCII"},
		{CSVOptions{Null: "a,b"}, "null string"},
		{CSVOptions{Null: `"`}, "null string"},
		{CSVOptions{Null: "\n"}, "null string"},
		{CSVOptions{Null: "\xff"}, "UTF-8"},
	} {
		if _, err := NewCSV(good, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err %v, want %q", tt.opts, err, tt.want)
		}
	}
	for _, tt := range []struct {
		typ  arrow.DataType
		want string
	}{
		{arrow.PrimitiveTypes.Int32, `encode: column 1 "x": type int32 is not supported by CSV`},
		{arrow.BinaryTypes.LargeString, `type large_utf8 is not supported`},
		{&arrow.TimestampType{Unit: arrow.Millisecond}, `encode: column 1 "x": timestamp unit ms, want us`},
	} {
		schema := arrow.NewSchema([]arrow.Field{{Name: "ok", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: tt.typ}}, nil)
		if _, err := NewCSV(schema, CSVOptions{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.typ, err, tt.want)
		}
	}
}

func TestSQLTimestampsMatchTimeFormat(t *testing.T) {
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
	check := func(us int64) {
		want := time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.999999")
		if got := string(appendSQLTimestamp(nil, us)); got != want {
			t.Fatalf("%d: got %s, want %s", us, got, want)
		}
	}
	for _, us := range []int64{lo, hi, 0, -1, 1, 10, 100000, 951782400000000, math.MinInt64, math.MaxInt64} {
		check(us)
	}
	for i := int64(0); i < 200000; i++ {
		check(lo + (i*7919*1_000_003+i*i)%(hi-lo+1))
		check(i * 10) // short fractions
	}
}

func TestCSVAppendRowDoesNotAllocate(t *testing.T) {
	rec := buildRecord(t, memory.DefaultAllocator, []row{
		{p("Mozilla/5.0 \"quoted\", é"), p(int64(-7)), p(19.99), p(true), p(int64(1795323048123456))},
		{p("bad \xff utf8 \n"), nil, p(math.NaN()), nil, nil},
		{},
	})
	defer rec.Release()
	e, err := NewCSV(allTypes, CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1000, func() {
		buf = buf[:0]
		for r := range 3 {
			buf = e.AppendRow(buf, rec, r)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendRow allocates %v times per 3 rows", allocs)
	}
}

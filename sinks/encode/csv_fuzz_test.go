package encode

import (
	"bytes"
	"encoding/csv"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzCSVRoundTrip encodes a row built from arbitrary values (nulls chosen
// by a bit mask, the delimiter by a byte) and reads the line back with
// encoding/csv, an independent reader: one record of five fields; a null is
// the only unquoted empty field; a string is quoted exactly when the dialect
// says it must be and reads back as written (invalid UTF-8 as U+FFFD); int64,
// float64 (bit for bit; NaN/±Inf as null), bool and timestamps (to the
// microsecond) parse back to the values written.
func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("hello", int64(42), 19.99, true, int64(1795323048123456), uint8(0), byte(0))
	f.Add("say \"hi\",\r\n", int64(math.MinInt64), math.Copysign(0, -1), false, int64(-1), uint8(0), byte('|'))
	f.Add("", int64(0), math.NaN(), false, int64(math.MinInt64), uint8(0b10101), byte('\t'))
	f.Add(" \\. ", int64(math.MaxInt64), 1e-7, true, int64(253402300799999999), uint8(0), byte(';'))
	f.Add("\\.", int64(1), math.Inf(1), true, int64(0), uint8(0b11110), byte(0))
	f.Add("a\xffb\x00", int64(1), 5e-324, true, int64(1_500_000), uint8(0), byte(0))
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()

	f.Fuzz(func(t *testing.T, s string, i int64, fl float64, b bool, ts int64, nulls uint8, delimSel byte) {
		delims := []byte{',', '|', '\t', ';'}
		delim := delims[int(delimSel)%len(delims)]
		e, err := NewCSV(allTypes, CSVOptions{Delimiter: delim})
		if err != nil {
			t.Fatal(err)
		}
		r := row{&s, &i, &fl, &b, &ts}
		if nulls&1 != 0 {
			r.s = nil
		}
		if nulls&2 != 0 {
			r.i = nil
		}
		if nulls&4 != 0 {
			r.f = nil
		}
		if nulls&8 != 0 {
			r.b = nil
		}
		if nulls&16 != 0 {
			r.ts = nil
		}
		rec := buildRecord(t, mem, []row{r})
		line := e.AppendRow(nil, rec, 0)
		rec.Release() // line is a copy
		mem.AssertSize(t, 0)
		if !utf8.Valid(line) || line[len(line)-1] != '\n' {
			t.Fatalf("bad line %q", line)
		}

		cr := csv.NewReader(bytes.NewReader(line))
		cr.Comma = rune(delim)
		cr.FieldsPerRecord = 5
		fields, err := cr.Read()
		if err != nil {
			t.Fatalf("encoding/csv: %v (line %q)", err, line)
		}
		if extra, err := cr.Read(); err == nil {
			t.Fatalf("more than one record: %q (line %q)", extra, line)
		}
		quoted := quotedFields(t, cr, line, len(fields))

		finite := !math.IsNaN(fl) && !math.IsInf(fl, 0)
		nullWant := []bool{r.s == nil, r.i == nil, r.f == nil || !finite, r.b == nil, r.ts == nil}
		for k, isNull := range nullWant {
			if isNull != (fields[k] == "" && !quoted[k]) {
				t.Fatalf("field %d: null %v, but read %q (quoted %v) from %q", k, isNull, fields[k], quoted[k], line)
			}
		}
		if r.s != nil {
			mustQuote := s == "" || s == `\.` || strings.ContainsAny(s, "\"\r\n"+string(delim)) ||
				strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\t") || strings.HasSuffix(s, " ") || strings.HasSuffix(s, "\t")
			if quoted[0] != mustQuote {
				t.Fatalf("string %q: quoted %v, want %v (line %q)", s, quoted[0], mustQuote, line)
			}
			// encoding/csv turns \r\n inside a quoted field into \n.
			if want := strings.ReplaceAll(perByteReplacement(s), "\r\n", "\n"); fields[0] != want {
				t.Fatalf("string %q: read back %q, want %q", s, fields[0], want)
			}
		}
		if r.i != nil {
			if got, err := strconv.ParseInt(fields[1], 10, 64); err != nil || got != i {
				t.Fatalf("int %d: read back %q", i, fields[1])
			}
		}
		if r.f != nil && finite {
			if got, err := strconv.ParseFloat(fields[2], 64); err != nil || math.Float64bits(got) != math.Float64bits(fl) {
				t.Fatalf("float %v: read back %q", fl, fields[2])
			}
		}
		if r.b != nil {
			if got, err := strconv.ParseBool(fields[3]); err != nil || got != b || (fields[3] != "true" && fields[3] != "false") {
				t.Fatalf("bool %v: read back %q", b, fields[3])
			}
		}
		if r.ts != nil && ts >= lo && ts <= hi {
			got, err := time.Parse("2006-01-02 15:04:05.999999", fields[4])
			if err != nil || got.UnixMicro() != ts {
				t.Fatalf("timestamp %d: read back %q (%v)", ts, fields[4], err)
			}
		}
	})
}

// quotedFields reports, for each field of the record cr just read, whether
// its raw text starts with a quote.
func quotedFields(t *testing.T, cr *csv.Reader, data []byte, n int) []bool {
	t.Helper()
	lines := bytes.Split(data, []byte("\n"))
	out := make([]bool, n)
	for k := range out {
		ln, col := cr.FieldPos(k)
		if ln < 1 || ln > len(lines) {
			t.Fatalf("field %d at line %d of %q", k, ln, data)
		}
		l := lines[ln-1]
		out[k] = col-1 < len(l) && l[col-1] == '"'
	}
	return out
}

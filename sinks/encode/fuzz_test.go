package encode

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// FuzzNDJSONRoundTrip builds a row from arbitrary values (nulls chosen by a
// bit mask), encodes it and checks that the line is one valid JSON object,
// that strings and floats are byte-for-byte what encoding/json writes, and
// that decoding the line gives the row back: exactly, except for what JSON
// cannot carry (invalid UTF-8 becomes U+FFFD, NaN/±Inf become null) and
// timestamps outside 0001-9999, which the decoder rejects.
func FuzzNDJSONRoundTrip(f *testing.F) {
	f.Add("hello", int64(42), 19.99, true, int64(1795323048123456), uint8(0))
	f.Add("q\"\\\n\u2028\x00\xff", int64(math.MinInt64), math.Copysign(0, -1), false, int64(-1), uint8(0))
	f.Add("", int64(0), math.NaN(), false, int64(math.MinInt64), uint8(0b10101))
	f.Add("😀", int64(math.MaxInt64), 1e-7, true, int64(253402300799999999), uint8(0))
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	e, err := NewNDJSON(allTypes)
	if err != nil {
		f.Fatal(err)
	}
	back, err := decode.New(mem, []decode.Field{
		{Name: "s", Type: decode.String, Nullable: true},
		{Name: "i", Type: decode.Int64, Nullable: true},
		{Name: "f", Type: decode.Float64, Nullable: true},
		{Name: "b", Type: decode.Bool, Nullable: true},
		{Name: "ts", Type: decode.Timestamp, Nullable: true},
	})
	if err != nil {
		f.Fatal(err)
	}
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()

	f.Fuzz(func(t *testing.T, s string, i int64, fl float64, b bool, ts int64, nulls uint8) {
		r := row{&s, &i, &fl, &b, &ts}
		for k, field := range []any{&r.s, &r.i, &r.f, &r.b, &r.ts} {
			if nulls&(1<<k) != 0 {
				switch p := field.(type) {
				case **string:
					*p = nil
				case **int64:
					*p = nil
				case **float64:
					*p = nil
				case **bool:
					*p = nil
				}
			}
		}
		rec := buildRecord(t, mem, []row{r})
		line := e.AppendRow(nil, rec, 0)
		rec.Release() // line is a copy
		if !json.Valid(line) || strings.IndexByte(string(line), '\n') != len(line)-1 || !utf8.Valid(line) {
			t.Fatalf("bad line %q", line)
		}
		if r.s != nil && !strings.Contains(string(line), `"s":`+jsonReference(s)+`,`) {
			t.Fatalf("string %q: line %s, encoding/json writes %s", s, line, jsonReference(s))
		}
		finite := !math.IsNaN(fl) && !math.IsInf(fl, 0)
		if r.f != nil && finite && !strings.Contains(string(line), `"f":`+jsonReference(fl)+`,`) {
			t.Fatalf("float %v: line %s, encoding/json writes %s", fl, line, jsonReference(fl))
		}

		inRange := r.ts == nil || (ts >= lo && ts <= hi)
		got := decodeLine(t, back, line, inRange)
		mem.AssertSize(t, 0) // the decoder's builders hold nothing between calls
		if !inRange {
			return
		}
		want := []any{nil, nil, nil, nil, nil}
		if r.s != nil {
			want[0] = perByteReplacement(s)
		}
		if r.i != nil {
			want[1] = i
		}
		if r.f != nil && finite {
			want[2] = math.Float64bits(fl)
		}
		if r.b != nil {
			want[3] = b
		}
		if r.ts != nil {
			want[4] = ts
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("column %d: got %#v, want %#v (line %s)", k, got[k], want[k], line)
			}
		}
	})
}

// perByteReplacement replaces each byte of invalid UTF-8 with U+FFFD, as the
// encoder (and encoding/json) do.
func perByteReplacement(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		sb.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return sb.String()
}

// decodeLine decodes one NDJSON line (without its '\n') back into cells:
// string, int64, float64 bits, bool, timestamp micros, nil for null.
func decodeLine(t *testing.T, d *decode.Decoder, line []byte, wantRow bool) []any {
	t.Helper()
	batch, dead := d.Decode("s", []flow.SourceRecord{{Data: line[:len(line)-1]}})
	defer batch.Record.Release()
	if !wantRow {
		// Year 0000 still parses as RFC 3339 (out_of_range); years of more
		// than four digits or negative ones do not (invalid_timestamp).
		if len(dead) != 1 || (decode.ReasonCode(dead[0].Reason) != decode.ReasonOutOfRange &&
			decode.ReasonCode(dead[0].Reason) != decode.ReasonInvalidTimestamp) {
			t.Fatalf("timestamp outside 0001-9999: want out_of_range or invalid_timestamp, got %v (line %s)", dead, line)
		}
		return nil
	}
	if len(dead) != 0 {
		t.Fatalf("line %s: %s", line, dead[0].Reason)
	}
	rec := batch.Record
	out := make([]any, rec.NumCols())
	for k, col := range rec.Columns() {
		if col.IsNull(0) {
			continue
		}
		switch a := col.(type) {
		case *array.String:
			out[k] = a.Value(0)
		case *array.Int64:
			out[k] = a.Value(0)
		case *array.Float64:
			out[k] = math.Float64bits(a.Value(0))
		case *array.Boolean:
			out[k] = a.Value(0)
		case *array.Timestamp:
			out[k] = int64(a.Value(0))
		}
	}
	return out
}

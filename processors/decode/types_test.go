package decode

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func ts(s string) micros {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return micros(t.UnixMicro())
}

// TestTypes pins what each column type accepts and why it rejects the rest.
// want is a cell value, nil for a null cell, or a reason prefix (a string
// starting with one of the codes; the string type's accepted values are
// written as accept("...") to tell them apart).
func TestTypes(t *testing.T) {
	str := Field{Name: "v", Type: String}
	i64 := Field{Name: "v", Type: Int64}
	f64 := Field{Name: "v", Type: Float64}
	boo := Field{Name: "v", Type: Bool}
	tsRFC := Field{Name: "v", Type: Timestamp}
	tsUnix := Field{Name: "v", Type: Timestamp, Format: "unix"}
	tsMs := Field{Name: "v", Type: Timestamp, Format: "unix_ms"}
	tsLayout := Field{Name: "v", Type: Timestamp, Format: "2006-01-02 15:04:05"}
	nullable := func(f Field) Field { f.Nullable = true; return f }
	withDefault := func(f Field, d string) Field { f.Default = &d; return f }
	nested := Field{Name: "uid", Type: String, Path: "user.id"}

	tests := []struct {
		field Field
		in    string
		want  any
	}{
		// string: only JSON strings, valid Unicode, escapes decoded.
		{str, `{"v":"hello"}`, accept("hello")},
		{str, `{"v":""}`, accept("")},
		{str, `{"v":"a\"b\\c\/d\b\f\n\r\t"}`, accept("a\"b\\c/d\b\f\n\r\t")},
		{str, `{"v":"\u00e9\u20AC\ud83d\ude00 ✓ 日本"}`, accept("é€😀 ✓ 日本")},
		{str, `{"v":"\u2028\u0000"}`, accept("\u2028\x00")},
		{str, `{"v":42}`, "type_mismatch: v: want string, got number"},
		{str, `{"v":true}`, "type_mismatch: v: want string, got bool"},
		{str, `{"v":{"a":1}}`, "type_mismatch: v: want string, got object"},
		{str, `{"v":["a"]}`, "type_mismatch: v: want string, got array"},
		{str, "{\"v\":\"a\xffb\"}", "invalid_utf8: v"},
		{str, "{\"v\":\"\xed\xa0\x80\"}", "invalid_utf8: v"}, // a surrogate encoded in UTF-8
		{str, `{"v":"\ud800"}`, "invalid_utf8: v: unpaired surrogate"},
		{str, `{"v":"\udc00\ud800"}`, "invalid_utf8: v"},
		{str, `{"v":"\ud800\u0041"}`, "invalid_utf8: v"},
		{str, "{\"w\":\"\xff\",\"v\":\"ok\"}", accept("ok")}, // undeclared strings are not checked
		{str, `{}`, "missing_field: v"},
		{str, `{"v":null}`, "missing_field: v"},
		{nullable(str), `{"v":null}`, nil},
		{nullable(str), `{}`, nil},
		{withDefault(str, "dflt"), `{}`, accept("dflt")},
		{withDefault(str, "dflt"), `{"v":null}`, accept("dflt")},
		{withDefault(str, "dflt"), `{"v":"x"}`, accept("x")},
		{withDefault(str, "dflt"), `{"v":1}`, "type_mismatch"}, // a default does not paper over a wrong type

		// int64: any number whose exact value is an integer in range.
		{i64, `{"v":0}`, int64(0)},
		{i64, `{"v":-0}`, int64(0)},
		{i64, `{"v":42}`, int64(42)},
		{i64, `{"v":42.0}`, int64(42)},
		{i64, `{"v":4.2e1}`, int64(42)},
		{i64, `{"v":4200E-2}`, int64(42)},
		{i64, `{"v":9223372036854775807}`, int64(math.MaxInt64)},
		{i64, `{"v":-9223372036854775808}`, int64(math.MinInt64)},
		{i64, `{"v":9007199254740993}`, int64(9007199254740993)}, // exact, not via float64
		{i64, `{"v":0.0000000000000000000000001e25}`, int64(1)},
		{i64, `{"v":0e999999999999999999}`, int64(0)},
		{i64, `{"v":1.5}`, "type_mismatch: v: want int64, got non-integer number \"1.5\""},
		{i64, `{"v":1e-1}`, "type_mismatch"},
		{i64, `{"v":9223372036854775808}`, "out_of_range: v: \"9223372036854775808\" does not fit in int64"},
		{i64, `{"v":-9223372036854775809}`, "out_of_range"},
		{i64, `{"v":1e19}`, "out_of_range"},
		{i64, `{"v":1e999999999999999999}`, "out_of_range"},
		{i64, `{"v":"42"}`, "type_mismatch: v: want int64, got string"},
		{i64, `{"v":true}`, "type_mismatch"},
		{withDefault(i64, "7"), `{"v":null}`, int64(7)},

		// float64: any JSON number; no strings, no overflow.
		{f64, `{"v":19.99}`, 19.99},
		{f64, `{"v":-0.0}`, math.Copysign(0, -1)},
		{f64, `{"v":1}`, 1.0},
		{f64, `{"v":1.7976931348623157e308}`, math.MaxFloat64},
		{f64, `{"v":5e-324}`, 5e-324},
		{f64, `{"v":1e-400}`, 0.0}, // underflow rounds to zero, as in every JSON parser
		{f64, `{"v":123456789012345678901234567890}`, 1.2345678901234568e29},
		{f64, `{"v":1e309}`, "out_of_range: v: \"1e309\" overflows float64"},
		{f64, `{"v":-1e309}`, "out_of_range"},
		{f64, `{"v":"19.99"}`, "type_mismatch: v: want float64, got string"},
		{f64, `{"v":NaN}`, "invalid_json"},
		{f64, `{"v":Infinity}`, "invalid_json"},

		// bool: only true and false.
		{boo, `{"v":true}`, true},
		{boo, `{"v":false}`, false},
		{boo, `{"v":1}`, "type_mismatch: v: want bool, got number"},
		{boo, `{"v":"true"}`, "type_mismatch: v: want bool, got string"},
		{withDefault(boo, "true"), `{}`, true},

		// timestamp, rfc3339: a string; offsets become UTC; sub-µs digits are floored.
		{tsRFC, `{"v":"2026-11-22T04:50:48.123Z"}`, ts("2026-11-22T04:50:48.123Z")},
		{tsRFC, `{"v":"2026-11-22T04:50:48Z"}`, ts("2026-11-22T04:50:48Z")},
		{tsRFC, `{"v":"2026-11-22T05:50:48.5+01:00"}`, ts("2026-11-22T04:50:48.5Z")},
		{tsRFC, `{"v":"2026-11-22T04:50:48.1234569Z"}`, ts("2026-11-22T04:50:48.123456Z")},
		{tsRFC, `{"v":"0001-01-01T00:00:00Z"}`, micros(minMicros)},
		{tsRFC, `{"v":"9999-12-31T23:59:59.999999999Z"}`, micros(maxMicros)},
		{tsRFC, `{"v":"0000-12-31T23:59:59Z"}`, "out_of_range: v:"},
		{tsRFC, `{"v":"0001-01-01T00:30:00+01:00"}`, "out_of_range"},
		{tsRFC, `{"v":"2026-11-22 04:50:48Z"}`, `invalid_timestamp: v: "2026-11-22 04:50:48Z" does not match timestamp (rfc3339 string)`},
		{tsRFC, `{"v":"2026-11-22T24:00:00Z"}`, "invalid_timestamp: v: \"2026-11-22T24:00:00Z\" does not match timestamp (rfc3339 string): hour out of range"},
		{tsRFC, `{"v":"2026-11-22"}`, "invalid_timestamp"},
		{tsRFC, `{"v":1700000000}`, "type_mismatch: v: want timestamp (rfc3339 string), got number"},
		{tsRFC, `{"v":"2026-11-22T04:50:48\u005a"}`, ts("2026-11-22T04:50:48Z")}, // escapes are decoded first

		// timestamp, unix: seconds, integer or fractional; floored to µs.
		{tsUnix, `{"v":1700000000}`, micros(1700000000_000000)},
		{tsUnix, `{"v":1700000000.123456789}`, micros(1700000000_123456)},
		{tsUnix, `{"v":1.7e9}`, micros(1700000000_000000)},
		{tsUnix, `{"v":-0.0000001}`, micros(-1)},
		{tsUnix, `{"v":-62135596800}`, micros(minMicros)},
		{tsUnix, `{"v":-62135596800.000001}`, "out_of_range: v: \"-62135596800.000001\" is outside the years 0001-9999"},
		{tsUnix, `{"v":253402300800}`, "out_of_range"},
		{tsUnix, `{"v":1e300}`, "out_of_range"},
		{tsUnix, `{"v":"1700000000"}`, "type_mismatch: v: want timestamp (unix seconds number), got string"},

		// timestamp, unix_ms
		{tsMs, `{"v":1700000000123}`, micros(1700000000_123000)},
		{tsMs, `{"v":1700000000123.4567}`, micros(1700000000_123456)},
		{tsMs, `{"v":"1700000000123"}`, "type_mismatch"},

		// timestamp, Go layout (no zone in the layout: UTC)
		{tsLayout, `{"v":"2026-11-22 04:50:48"}`, ts("2026-11-22T04:50:48Z")},
		{tsLayout, `{"v":"2026-11-22T04:50:48Z"}`, "invalid_timestamp"},
		{tsLayout, `{"v":7}`, `type_mismatch: v: want timestamp (string in layout "2006-01-02 15:04:05"), got number`},

		// paths
		{nested, `{"user":{"id":"u-1"}}`, accept("u-1")},
		{nested, `{"user":{"name":"x"}}`, "missing_field: uid (path user.id)"},
		{nested, `{"user":null}`, "missing_field: uid (path user.id)"},
		{nested, `{"user":"u-1"}`, `type_mismatch: uid: want object at "user", got string`},
		{nested, `{"user":[{"id":"u-1"}]}`, `type_mismatch: uid: want object at "user", got array`},
		{nested, `{"user.id":"u-1"}`, "missing_field"},                 // a dot always means nesting
		{nested, `{"user":{"id":"a"},"user":{"id":"b"}}`, accept("b")}, // the last duplicate wins
		{nested, `{"user":{"id":"a"},"user":{}}`, "missing_field"},     // ... entirely
		{nested, `{"user":{"id":"a","id":"b"}}`, accept("b")},
		{nested, `{"us\u0065r":{"\u0069d":"esc"}}`, accept("esc")}, // keys are unescaped
		{nested, `{"x":{"user":{"id":"no"}},"user":{"id":"yes","x":[1,{"id":2}]}}`, accept("yes")},

		// the record as a whole
		{str, ``, "invalid_json: empty input"},
		{str, `   `, "invalid_json"},
		{str, `{"v":"a"} x`, "invalid_json: data after the top-level value"},
		{str, `{"v":"a"}{}`, "invalid_json"},
		{str, " \t\r\n{\"v\":\"a\"} \n", accept("a")},
		{str, `{"v":"a",}`, "invalid_json"},
		{str, `{"v":"a"`, "invalid_json"},
		{str, `{'v':"a"}`, "invalid_json"},
		{str, "{\"v\":\"a\tb\"}", "invalid_json: control character in string"},
		{str, `{"v":"\x41"}`, "invalid_json: invalid escape"},
		{str, `{"v":"\u12G4"}`, "invalid_json"},
		{str, `{"v":"a","n":01}`, "invalid_json"},
		{str, `{"v":"a","n":1.}`, "invalid_json"},
		{str, `{"v":"a","n":.5}`, "invalid_json"},
		{str, `{"v":"a","n":+1}`, "invalid_json"},
		{str, `{"v":"a","n":1e}`, "invalid_json"},
		{str, `{"v":"a","n":tru}`, "invalid_json"},
		{str, `{"v":"a","n":[1,2,]}`, "invalid_json"},
		{str, `{"v":"a","n":[1 2]}`, "invalid_json"},
		{str, `{"v":"a","n":{"a" 1}}`, "invalid_json"},
		{str, "\xef\xbb\xbf{\"v\":\"a\"}", "invalid_json"}, // a BOM is not JSON
		{str, `[{"v":"a"}]`, "not_an_object: got array"},
		{str, `"v"`, "not_an_object: got string"},
		{str, `null`, "not_an_object: got null"},
		{str, `42`, "not_an_object: got number"},
		{str, `{"v":"a","extra":{"deep":[1,2,{"x":null}]},"more":true}`, accept("a")},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			d, err := New(mem, []Field{tt.field})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release()
			got := run(t, d, [][]byte{[]byte(tt.in)})[0]
			// The oracle must agree with every case here, or it would not
			// be a meaningful reference for the property test.
			if o := oracle([]Field{tt.field}, []byte(tt.in)); !sameOutcome(o, got) {
				t.Errorf("oracle says %v, decoder %v", o, got)
			}
			if want, ok := tt.want.(string); ok {
				if !strings.HasPrefix(got.reason, want) {
					t.Fatalf("%+v on %s: got %v, want reason %q", tt.field, tt.in, got, want)
				}
				return
			}
			want := tt.want
			if a, ok := want.(accept); ok {
				want = string(a)
			}
			if got.reason != "" || !sameCell(got.row[0], want) {
				t.Fatalf("%+v on %s: got %v, want %#v", tt.field, tt.in, got, want)
			}
		})
	}
}

// accept marks an expected string cell (a bare string is a reason prefix).
type accept string

func TestDeepNesting(t *testing.T) {
	d, err := New(memory.DefaultAllocator, []Field{{Name: "v", Type: String, Nullable: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	deep := func(n int) []byte {
		return []byte(`{"x":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`)
	}
	inputs := [][]byte{deep(10000), deep(10001), []byte(strings.Repeat("[", 1<<20))}
	out := run(t, d, inputs)
	for i, in := range inputs {
		if o := oracle([]Field{{Name: "v", Type: String, Nullable: true}}, in); !sameOutcome(o, out[i]) {
			t.Errorf("input %d: oracle %v, decoder %v", i, o, out[i])
		}
	}
	if out[0].reason != "" {
		t.Errorf("10000 levels: %v", out[0])
	}
	for _, o := range out[1:] {
		if ReasonCode(o.reason) != ReasonInvalidJSON {
			t.Errorf("too deep: %v", o)
		}
	}
}

// TestWideSchema covers objects with many declared keys, which are looked
// up by map instead of by linear search.
func TestWideSchema(t *testing.T) {
	var fields []Field
	var rec strings.Builder
	rec.WriteString(`{"noise":[1,2],`)
	for i := 39; i >= 0; i-- {
		fields = append(fields, Field{Name: fmt.Sprintf("f%02d", i), Type: Int64, Nullable: i%7 == 0})
		if i%7 != 0 {
			fmt.Fprintf(&rec, `"f%02d":%d,`, i, i*i)
		}
	}
	rec.WriteString(`"f05":-5}`)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d, err := New(mem, fields)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	in := []byte(rec.String())
	got := run(t, d, [][]byte{in})[0]
	if want := oracle(fields, in); !sameOutcome(got, want) || got.reason != "" {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got.row[len(fields)-1-5] != int64(-5) || got.row[len(fields)-1-38] != int64(38*38) || got.row[len(fields)-1-35] != nil {
		t.Errorf("row %v", got.row)
	}
}

package decode

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestNewValidation(t *testing.T) {
	ok := Field{Name: "ok", Type: String}
	tests := []struct {
		name   string
		fields []Field
		want   []string // every message, in order
	}{
		{"no fields", nil, []string{"fields: at least one field is required"}},
		{"unknown type", []Field{ok, ok2("b"), {Name: "c", Type: "strng"}},
			[]string{`fields[2].type: unknown type "strng" (want string, int64, float64, bool, timestamp)`}},
		{"empty name", []Field{{Type: String}}, []string{"fields[0].name: must not be empty"}},
		{"duplicate name", []Field{ok, {Name: "ok", Type: Int64}},
			[]string{`fields[1].name: duplicate name "ok" (also fields[0])`}},
		{"empty path segment", []Field{{Name: "a", Type: String, Path: "user..id"}},
			[]string{`fields[0].path: empty segment in path "user..id"`}},
		{"leading dot", []Field{{Name: "a", Type: String, Path: ".id"}},
			[]string{`fields[0].path: empty segment in path ".id"`}},
		{"trailing dot in name used as path", []Field{{Name: "user.", Type: String}},
			[]string{`fields[0].name: empty segment in path "user."`}},
		{"invalid utf8 name", []Field{{Name: "a\xff", Type: String}},
			[]string{"fields[0].name: must be valid UTF-8"}},
		{"invalid utf8 path", []Field{{Name: "a", Type: String, Path: "a.\xff"}},
			[]string{"fields[0].path: must be valid UTF-8"}},
		{"format on non-timestamp", []Field{{Name: "a", Type: Int64, Format: "unix"}},
			[]string{"fields[0].format: only valid for timestamp fields"}},
		{"layout without a date", []Field{{Name: "a", Type: Timestamp, Format: "strng"}},
			[]string{`fields[0].format: "strng" is neither rfc3339, unix, unix_ms nor a Go time layout`}},
		{"layout without a day", []Field{{Name: "a", Type: Timestamp, Format: "2006-01"}},
			[]string{`fields[0].format: "2006-01" is neither`}},
		{"bad int default", []Field{{Name: "a", Type: Int64, Default: ptr("x")}},
			[]string{`fields[0].default: "x" is not a valid int64: want a JSON number`}},
		{"fractional int default", []Field{{Name: "a", Type: Int64, Default: ptr("1.5")}},
			[]string{"fields[0].default: type_mismatch: a: want int64, got non-integer number"}},
		{"huge int default", []Field{{Name: "a", Type: Int64, Default: ptr("1e19")}},
			[]string{"fields[0].default: out_of_range: a:"}},
		{"float default NaN", []Field{{Name: "a", Type: Float64, Default: ptr("NaN")}},
			[]string{`fields[0].default: "NaN" is not a valid float64`}},
		{"float default overflow", []Field{{Name: "a", Type: Float64, Default: ptr("1e999")}},
			[]string{"fields[0].default: out_of_range"}},
		{"bool default", []Field{{Name: "a", Type: Bool, Default: ptr("yes")}},
			[]string{`fields[0].default: "yes" is not a valid bool: want true or false`}},
		{"timestamp default", []Field{{Name: "a", Type: Timestamp, Default: ptr("yesterday")}},
			[]string{`fields[0].default: invalid_timestamp: a: "yesterday" does not match`}},
		{"unix timestamp default must be a number", []Field{{Name: "a", Type: Timestamp, Format: "unix", Default: ptr("2026-01-01")}},
			[]string{`fields[0].default: "2026-01-01" is not a valid timestamp (unix seconds number)`}},
		{"string default invalid utf8", []Field{{Name: "a", Type: String, Default: ptr("\xff")}},
			[]string{"fields[0].default: invalid_utf8: a"}},
		{"all problems at once", []Field{{Name: "", Type: "x"}, ok, {Name: "ok", Type: Bool, Default: ptr("1")}},
			[]string{
				"fields[0].name: must not be empty",
				`fields[0].type: unknown type "x"`,
				`fields[2].name: duplicate name "ok" (also fields[1])`,
				`fields[2].default: "1" is not a valid bool`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(memory.DefaultAllocator, tt.fields)
			if err == nil {
				d.Release()
				t.Fatalf("New succeeded, want %q", tt.want)
			}
			msgs := strings.Split(err.Error(), "\n")
			if len(msgs) != len(tt.want) {
				t.Fatalf("got %d errors %q, want %d %q", len(msgs), msgs, len(tt.want), tt.want)
			}
			for i := range msgs {
				if !strings.HasPrefix(msgs[i], tt.want[i]) {
					t.Errorf("error %d = %q, want prefix %q", i, msgs[i], tt.want[i])
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error is not a *FieldError: %T", err)
			}
		})
	}
}

func ok2(name string) Field { return Field{Name: name, Type: Int64} }

func TestNewAccepts(t *testing.T) {
	fields := []Field{
		{Name: "s", Type: String},
		{Name: "i", Type: Int64, Nullable: true, Default: ptr("42.0")},
		{Name: "f", Type: Float64, Default: ptr("-1e-3")},
		{Name: "b", Type: Bool, Nullable: true},
		{Name: "ts", Type: Timestamp},
		{Name: "ts2", Type: Timestamp, Format: "rfc3339"},
		{Name: "ts3", Type: Timestamp, Format: "unix", Default: ptr("0")},
		{Name: "ts4", Type: Timestamp, Format: "unix_ms"},
		{Name: "ts5", Type: Timestamp, Format: "02/01/2006 15:04", Default: ptr("22/11/2026 04:50")},
		{Name: "user.id", Type: String},                    // a dotted name is a path
		{Name: "uid_again", Type: String, Path: "user.id"}, // same path, second column
		{Name: "user_obj", Type: String, Path: "user"},     // a prefix of other paths
		{Name: "deep", Type: String, Path: "a.b.c.d.e.f.g.h"},
		{Name: "unicode ✓", Type: String, Path: "ключ"},
	}
	d, err := New(memory.DefaultAllocator, fields)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	s := d.Schema()
	if s.NumFields() != len(fields) {
		t.Fatalf("schema has %d fields", s.NumFields())
	}
	wantTypes := map[FieldType]arrow.DataType{
		String: arrow.BinaryTypes.String, Int64: arrow.PrimitiveTypes.Int64, Float64: arrow.PrimitiveTypes.Float64,
		Bool: arrow.FixedWidthTypes.Boolean, Timestamp: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
	}
	for i, f := range fields {
		af := s.Field(i)
		if af.Name != f.Name || af.Nullable != f.Nullable || !arrow.TypeEqual(af.Type, wantTypes[f.Type]) {
			t.Errorf("field %d: got %v, want name %q type %v nullable %v", i, af, f.Name, wantTypes[f.Type], f.Nullable)
		}
	}
}

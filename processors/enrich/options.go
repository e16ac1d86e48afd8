package enrich

import (
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// Field is one value of a lookup entry that becomes a column.
type Field struct {
	// From is the hash field (Source hash), the member of the JSON object
	// (Source json) or the column of the table file (StaticTable).
	From string `yaml:"from"`
	// As is the appended column's name; empty means From.
	As string `yaml:"as,omitempty"`
	// Type is the column type; the stored text is converted to it (see the
	// package documentation).
	Type decode.FieldType `yaml:"type"`
	// Default, parsed as Type, is used when an entry lacks this field and,
	// with OnMiss "default", when the key is not found. Without it those
	// values are null.
	Default *string `yaml:"default,omitempty"`
}

// MissPolicy says what happens to a row whose key is not found (or cannot
// be formed because a key column is null).
type MissPolicy string

// The miss policies.
const (
	MissNull       MissPolicy = "null"        // append nulls (the default)
	MissDefault    MissPolicy = "default"     // append each field's Default (null without one)
	MissDrop       MissPolicy = "drop"        // drop the row
	MissDeadLetter MissPolicy = "dead_letter" // dead-letter the row ("enrich_miss: <key>")
)

// OptionError is one problem with a lookup's options. Its text names the
// option the way the pipeline config does ("fields[1].type: ..."), so the
// config validator can prefix where the lookup lives.
type OptionError struct {
	Key string // "key", "fields[1].as", "on_miss", ...
	Msg string
}

func (e *OptionError) Error() string { return e.Key + ": " + e.Msg }

// field is one Field, resolved.
type field struct {
	from string
	as   string
	typ  decode.FieldType
	dt   arrow.DataType
	def  transform.Value // null when there is no Default
}

// errs collects OptionErrors.
type errs []error

func (e *errs) add(key, format string, args ...any) {
	*e = append(*e, &OptionError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (e errs) err() error {
	if len(e) == 0 {
		return nil
	}
	return fmt.Errorf("enrich: %w", errors.Join(e...))
}

// compileFields validates fields and policy against the input schema.
func compileFields(in *arrow.Schema, fields []Field, onMiss MissPolicy, bad *errs) []field {
	switch onMiss {
	case "", MissNull, MissDefault, MissDrop, MissDeadLetter:
	default:
		bad.add("on_miss", "unknown policy %q (want null, default, drop, dead_letter)", onMiss)
	}
	if len(fields) == 0 {
		bad.add("fields", "at least one field is required")
	}
	out := make([]field, 0, len(fields))
	seen := map[string]int{}
	for i, f := range fields {
		key := fmt.Sprintf("fields[%d]", i)
		c := field{from: f.From, as: f.As, typ: f.Type}
		if c.as == "" {
			c.as = f.From
		}
		if f.From == "" {
			bad.add(key+".from", "must not be empty")
		}
		if c.as != "" {
			if j, dup := seen[c.as]; dup {
				bad.add(key+".as", "column %q is also fields[%d]", c.as, j)
			} else if in.HasField(c.as) {
				bad.add(key+".as", "column %q already exists in the input", c.as)
			}
			seen[c.as] = i
		}
		dt, err := transform.ArrowType(f.Type)
		if err != nil {
			bad.add(key+".type", "%v", err)
		}
		c.dt = dt
		if f.Default != nil && err == nil {
			if c.def, err = parseValue(*f.Default, f.Type); err != nil {
				bad.add(key+".default", "%v", err)
			}
		}
		out = append(out, c)
	}
	return out
}

// appended returns the Arrow fields of the columns a lookup appends.
func appended(fields []field) []arrow.Field {
	out := make([]arrow.Field, len(fields))
	for i, f := range fields {
		out[i] = arrow.Field{Name: f.as, Type: f.dt, Nullable: true}
	}
	return out
}

package enrich

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// template is a key template such as "user:{user_id}": literal text and
// {name} placeholders; "{{" and "}}" are literal braces (so a Redis Cluster
// hash tag can be written "{{users}}:{user_id}").
type template struct {
	src   string
	parts []part
	names []string // placeholder names, in order of first use
}

type part struct {
	lit  string // literal text, when name is ""
	name string
	col  int // column index, once bound
}

func parseTemplate(src string) (*template, error) {
	t := &template{src: src}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case c == '{' && i+1 < len(src) && src[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(src) && src[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexAny(src[i+1:], "{}")
			if end < 0 || src[i+1+end] != '}' {
				return nil, fmt.Errorf("unclosed { at offset %d in %q", i, src)
			}
			name := src[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf("empty placeholder {} at offset %d in %q", i, src)
			}
			flush()
			t.parts = append(t.parts, part{name: name, col: -1})
			if !slices.Contains(t.names, name) {
				t.names = append(t.names, name)
			}
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("unmatched } at offset %d in %q (write }} for a literal brace)", i, src)
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	if len(t.names) == 0 {
		return nil, fmt.Errorf("%q has no {column} placeholder", src)
	}
	return t, nil
}

// bind resolves the placeholders to columns of schema. The error names
// every unknown or unusable column.
func (t *template) bind(schema *arrow.Schema) error {
	var errs []error
	for i := range t.parts {
		p := &t.parts[i]
		if p.name == "" {
			continue
		}
		idx := schema.FieldIndices(p.name)
		switch {
		case len(idx) == 0:
			errs = append(errs, fmt.Errorf("unknown column %q in %q", p.name, t.src))
		case !keyType(schema.Field(idx[0]).Type):
			errs = append(errs, fmt.Errorf("column %q is of type %v, which cannot be part of a key", p.name, schema.Field(idx[0]).Type))
		default:
			p.col = idx[0]
		}
	}
	return errors.Join(errs...)
}

func keyType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.INT64, arrow.FLOAT64, arrow.BOOL, arrow.TIMESTAMP:
		return true
	}
	return false
}

// appendRow appends the key of row to buf. When a placeholder's column is
// null it returns that column's name instead and buf is unusable.
func (t *template) appendRow(buf []byte, rec arrow.RecordBatch, row int) ([]byte, string) {
	for i := range t.parts {
		p := &t.parts[i]
		if p.name == "" {
			buf = append(buf, p.lit...)
			continue
		}
		col := rec.Column(p.col)
		if col.IsNull(row) {
			return buf, p.name
		}
		switch c := col.(type) {
		case *array.String:
			buf = append(buf, c.Value(row)...)
		case *array.Int64:
			buf = strconv.AppendInt(buf, c.Value(row), 10)
		case *array.Float64:
			buf = strconv.AppendFloat(buf, c.Value(row), 'g', -1, 64)
		case *array.Boolean:
			buf = strconv.AppendBool(buf, c.Value(row))
		case *array.Timestamp:
			unit := c.DataType().(*arrow.TimestampType).Unit
			buf = c.Value(row).ToTime(unit).AppendFormat(buf, time.RFC3339Nano)
		}
	}
	return buf, ""
}

// render returns the key of a file row, or the name of a missing field.
func (t *template) render(row map[string]string) (string, string) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.name == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := row[p.name]
		if !ok {
			return "", p.name
		}
		b.WriteString(v)
	}
	return b.String(), ""
}

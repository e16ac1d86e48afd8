package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FieldError is one problem with one declared field. Its text names the
// field path the way the pipeline config does ("fields[2].type: ..."), so the
// config validator can prefix it with where the field list lives.
type FieldError struct {
	Index int    // position in the fields passed to New; -1 for the list itself
	Key   string // "name", "type", "path", "format" or "default"
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Index < 0 {
		return "fields: " + e.Msg
	}
	return fmt.Sprintf("fields[%d].%s: %s", e.Index, e.Key, e.Msg)
}

// timestamp formats
type tsFormat uint8

const (
	tsRFC3339 tsFormat = iota
	tsUnix
	tsUnixMs
	tsLayout
)

// refTime checks a Go layout: formatting it and parsing the result back must
// recover the date, which a layout without year, month and day cannot.
var refTime = time.Date(2026, time.November, 22, 4, 50, 48, 123456000, time.UTC)

// New validates fields and builds a Decoder whose batches allocate from mem.
// All problems are reported at once, joined, each as a *FieldError.
func New(mem memory.Allocator, fields []Field) (*Decoder, error) {
	var errs []error
	bad := func(i int, key, format string, args ...any) {
		errs = append(errs, &FieldError{Index: i, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if len(fields) == 0 {
		bad(-1, "", "at least one field is required")
	}
	d := &Decoder{root: &node{slot: -1}}
	names := make(map[string]int, len(fields))
	arrowFields := make([]arrow.Field, len(fields))
	for i, f := range fields {
		c := column{name: f.Name, typ: f.Type, t: colTypes[f.Type], nullable: f.Nullable}
		switch {
		case f.Name == "":
			bad(i, "name", "must not be empty")
		case !utf8.ValidString(f.Name):
			bad(i, "name", "must be valid UTF-8")
		default:
			if j, dup := names[f.Name]; dup {
				bad(i, "name", "duplicate name %q (also fields[%d])", f.Name, j)
			}
			names[f.Name] = i
		}

		var dt arrow.DataType
		switch f.Type {
		case String:
			dt = arrow.BinaryTypes.String
		case Int64:
			dt = arrow.PrimitiveTypes.Int64
		case Float64:
			dt = arrow.PrimitiveTypes.Float64
		case Bool:
			dt = arrow.FixedWidthTypes.Boolean
		case Timestamp:
			dt = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		default:
			bad(i, "type", "unknown type %q (want string, int64, float64, bool, timestamp)", f.Type)
		}
		arrowFields[i] = arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}

		formatOK := true
		c.format, c.layout, c.want = checkFormat(f, func(msg string) {
			bad(i, "format", "%s", msg)
			formatOK = false
		})

		path, key := f.Path, "path"
		if path == "" {
			path, key = f.Name, "name"
		}
		switch {
		case path == "": // reported as an empty name
		case !utf8.ValidString(path):
			if key == "path" { // an invalid name is reported already
				bad(i, key, "must be valid UTF-8")
			}
		default:
			if msg := checkPath(path); msg != "" {
				bad(i, key, "%s", msg)
			} else {
				c.node = d.root.insert(path)
			}
		}
		c.path = path

		if f.Default != nil && dt != nil && formatOK {
			if err := c.parseDefault(*f.Default); err != "" {
				bad(i, "default", "%s", err)
			}
		}
		d.cols = append(d.cols, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	nslots := d.root.number(0)
	d.sc.slots = make([]slot, nslots)
	d.sc.nodes = d.root.all(nil)
	d.schema = arrow.NewSchema(arrowFields, nil)
	d.mem = mem
	for i := range d.cols {
		c := &d.cols[i]
		c.slot = c.node.slot
		c.dt = arrowFields[i].Type
	}
	return d, nil
}

// checkPath returns why a dotted path is unusable, or "".
func checkPath(path string) string {
	for seg := range strings.SplitSeq(path, ".") {
		if seg == "" {
			return fmt.Sprintf("empty segment in path %q", path)
		}
	}
	return ""
}

// checkFormat resolves Field.Format, and what a reason calls the expected
// type ("timestamp (unix seconds)").
func checkFormat(f Field, bad func(string)) (tsFormat, string, string) {
	if f.Type != Timestamp {
		if f.Format != "" {
			bad("only valid for timestamp fields")
		}
		return 0, "", string(f.Type)
	}
	switch f.Format {
	case "", "rfc3339":
		return tsRFC3339, time.RFC3339Nano, "timestamp (rfc3339 string)"
	case "unix":
		return tsUnix, "", "timestamp (unix seconds number)"
	case "unix_ms":
		return tsUnixMs, "", "timestamp (unix milliseconds number)"
	}
	t, err := time.Parse(f.Format, refTime.Format(f.Format))
	if err != nil || t.Year() != refTime.Year() || t.YearDay() != refTime.YearDay() {
		bad(fmt.Sprintf("%q is neither rfc3339, unix, unix_ms nor a Go time layout with year, month and day (such as \"2006-01-02 15:04:05\")", f.Format))
	}
	return tsLayout, f.Format, fmt.Sprintf("timestamp (string in layout %q)", f.Format)
}

// insert adds the nodes of a dotted path and marks its last one as declared.
func (n *node) insert(path string) *node {
	for seg := range strings.SplitSeq(path, ".") {
		c := n.child([]byte(seg))
		if c == nil {
			c = &node{name: seg, path: seg, slot: -1}
			if n.path != "" {
				c.path = n.path + "." + seg
			}
			n.children = append(n.children, c)
		}
		n = c
	}
	n.slot = 0 // declared; numbered by number
	return n
}

// number assigns slots in depth-first order so every subtree's slots are
// the contiguous range [lo, hi). It returns the next free slot.
func (n *node) number(next int) int {
	if len(n.children) > 16 {
		n.byName = make(map[string]*node, len(n.children))
		for _, c := range n.children {
			n.byName[c.name] = c
		}
	}
	n.plain = true
	for _, c := range []byte(n.name) {
		if !strPlain[c] {
			n.plain = false
		}
	}
	if k := n.name + `"`; n.plain && len(k) <= 16 {
		var b, m [16]byte
		copy(b[:], k)
		for j := range len(k) {
			m[j] = 0xff
		}
		n.key = [2]uint64{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
		n.keyMask = [2]uint64{binary.LittleEndian.Uint64(m[:]), binary.LittleEndian.Uint64(m[8:])}
		n.keyLen = len(k)
	}
	n.lo = next
	if n.slot >= 0 {
		n.slot = next
		next++
	}
	for _, c := range n.children {
		next = c.number(next)
	}
	n.hi = next
	return next
}

// all appends n and the nodes below it to nodes, numbering them.
func (n *node) all(nodes []*node) []*node {
	n.id = int32(len(nodes))
	nodes = append(nodes, n)
	for _, c := range n.children {
		nodes = c.all(nodes)
	}
	return nodes
}

// parseDefault converts a default the way a JSON value of the field would be
// converted, so "42.0" is a valid int64 default exactly when 42.0 is a valid
// int64 value. It returns the problem, or "".
func (c *column) parseDefault(def string) string {
	data := []byte(def)
	sl := slot{kind: kindString, end: len(data)}
	numeric := c.typ == Int64 || c.typ == Float64 ||
		(c.typ == Timestamp && (c.format == tsUnix || c.format == tsUnixMs))
	switch {
	case numeric:
		sc := scanner{data: data}
		if len(data) == 0 || (data[0] != '-' && !isDigit(data[0])) || sc.number(0) != len(data) {
			return fmt.Sprintf("%q is not a valid %s: want a JSON number", def, c.want)
		}
		sl.kind = kindNumber
	case c.typ == Bool:
		switch def {
		case "true":
			sl.kind = kindTrue
		case "false":
			sl.kind = kindFalse
		default:
			return fmt.Sprintf("%q is not a valid bool: want true or false", def)
		}
	}
	var d Decoder // only for convert's scratch; data is already our own copy
	var v value
	if r := d.convert(c, data, &sl, &v); r != "" {
		return r
	}
	c.def, c.hasDef = v, true
	return ""
}

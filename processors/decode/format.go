package decode

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode/lineparse"
)

// FormatType names how a record's bytes are read.
type FormatType string

// The record formats NewFormat accepts.
const (
	JSON           FormatType = "json"
	CSV            FormatType = "csv"
	ApacheCommon   FormatType = "apache_common"
	ApacheCombined FormatType = "apache_combined"
	ApacheError    FormatType = "apache_error"
	Syslog         FormatType = "syslog"
	Regex          FormatType = "regex"
	CloudWatchLogs FormatType = "cloudwatch_logs"
)

// FormatTypes lists every format, in the order documentation shows them.
var FormatTypes = []FormatType{JSON, CSV, ApacheCombined, ApacheCommon, ApacheError, Syslog, Regex, CloudWatchLogs}

// Reason codes of the formats other than JSON (see the Reason* constants in
// reasons.go for the JSON ones, which the other formats use too).
const (
	// ReasonInvalidLine: a text line does not have its format's shape
	// (csv, apache_*, syslog, regex).
	ReasonInvalidLine = "invalid_line"
	// ReasonInvalidGzip: a cloudwatch_logs record is not gzip data, is
	// corrupt, or inflates beyond MaxInflatedBytes.
	ReasonInvalidGzip = "invalid_gzip"
	// ReasonInvalidEnvelope: a cloudwatch_logs record inflates to JSON
	// that is not a subscription envelope (no messageType, logEvents not
	// an array of objects, an unknown messageType).
	ReasonInvalidEnvelope = "invalid_envelope"
)

// Reasons for which input is skipped, neither a row nor a dead letter, as
// Skipped counts them.
const (
	// SkipControlMessage: a CloudWatch Logs CONTROL_MESSAGE (sent once when
	// a subscription starts, to check that the destination is reachable).
	SkipControlMessage = "cloudwatch_control_message"
	// SkipCSVHeader: a CSV line whose fields are exactly the column names
	// (with csv.header).
	SkipCSVHeader = "csv_header"
	// SkipEmptyLine: an empty line inside a record of a text format.
	SkipEmptyLine = "empty_line"
)

// MaxInflatedBytes is the default bound of what one cloudwatch_logs record
// may inflate to (a Kinesis record is at most 1 MiB; CloudWatch Logs
// compresses ~10x), so that a gzip bomb becomes a dead letter rather than
// an out-of-memory kill.
const MaxInflatedBytes = 64 << 20

// Format says how records are read. The zero value is JSON.
type Format struct {
	// Type is the record format; empty means JSON.
	Type FormatType
	// CSV options (Type CSV).
	CSV CSVOptions
	// Regex is the pattern of Type Regex (RE2 syntax, named groups are the
	// fields a schema path may name).
	Regex string
	// Timezone is the IANA zone of timestamps that carry none (syslog RFC
	// 3164, apache_error); empty means UTC.
	Timezone string
	// Now is the clock for RFC 3164's missing year (default time.Now).
	Now func() time.Time
	// MaxInflatedBytes bounds a cloudwatch_logs record inflated (default
	// MaxInflatedBytes).
	MaxInflatedBytes int
}

// CSVOptions configure the csv format.
type CSVOptions struct {
	// Delimiter is one byte (default ","; "\t" or "tab" for tabs).
	Delimiter string `yaml:"delimiter,omitempty" json:"delimiter,omitempty"`
	// Columns names the fields of a line in order; default: the schema's
	// paths (its names where no path is set), in schema order.
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
	// Header skips (and counts) lines whose fields are exactly the column
	// names: the header line of each file an agent ships.
	Header bool `yaml:"header,omitempty" json:"header,omitempty"`
}

// FormatError is a problem with the format options (not with one field).
// Key is the option's name relative to where the format is configured:
// "format", "csv.delimiter", "csv.columns", "regex", "timezone".
type FormatError struct {
	Key string
	Msg string
}

func (e *FormatError) Error() string { return e.Key + ": " + e.Msg }

// textFormat reads one row per line through a lineparse.Parser.
type textFormat struct {
	name   string
	p      *lineparse.Parser
	cols   []textColumn // by decoder column
	header bool         // csv.header: skip lines equal to the column names
	names  [][]byte     // csv column names, for the header test
}

// textColumn is where a column's value is in a parsed line.
type textColumn struct {
	field  int  // index into the parser's values
	native bool // a Time field read with the format's own layout
}

// NewFormat builds a Decoder for records of format f. For JSON it is New.
// For the line formats, a field's path (its name when empty) names a field
// of the format (for csv a column, for regex a named group); values are
// text converted by the JSON rules (an int64 column needs text that is a
// JSON integer, and so on), and a timestamp column without a format reading
// the format's own time field uses the format's layout. For cloudwatch_logs
// the paths are those of the subscription envelope and its log events:
// owner, logGroup, logStream, id, timestamp (unix_ms unless a format is
// set) and message, or message.<path> to read the message as JSON. All
// problems are reported at once, as *FieldError and *FormatError.
func NewFormat(mem memory.Allocator, fields []Field, f Format) (*Decoder, error) {
	switch f.Type {
	case "", JSON:
		var errs []error
		if f.CSV.Delimiter != "" || len(f.CSV.Columns) > 0 || f.CSV.Header {
			errs = append(errs, &FormatError{"csv", "only applies to format csv"})
		}
		if f.Regex != "" {
			errs = append(errs, &FormatError{"regex", "only applies to format regex"})
		}
		if f.Timezone != "" {
			errs = append(errs, &FormatError{"timezone", "only applies to formats syslog and apache_error"})
		}
		d, err := New(mem, fields)
		if err != nil {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return d, nil
	case CloudWatchLogs:
		return newCloudWatch(mem, fields, f)
	case CSV, ApacheCommon, ApacheCombined, ApacheError, Syslog, Regex:
		return newText(mem, fields, f)
	}
	names := make([]string, len(FormatTypes))
	for i, t := range FormatTypes {
		names[i] = string(t)
	}
	return nil, &FormatError{"format", fmt.Sprintf("unknown format %q (want %s)", f.Type, strings.Join(names, ", "))}
}

func newText(mem memory.Allocator, fields []Field, f Format) (*Decoder, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &FormatError{key, fmt.Sprintf(format, args...)})
	}
	o := lineparse.Options{Format: lineparse.Format(f.Type), Pattern: f.Regex, Now: f.Now}
	if f.Type != CSV && (f.CSV.Delimiter != "" || len(f.CSV.Columns) > 0 || f.CSV.Header) {
		bad("csv", "only applies to format csv")
	}
	if f.Type != Regex && f.Regex != "" {
		bad("regex", "only applies to format regex")
	}
	if f.Type == Regex && f.Regex == "" {
		bad("regex", "is required by format regex")
	}
	if f.Timezone != "" {
		if f.Type != Syslog && f.Type != ApacheError {
			bad("timezone", "only applies to formats syslog and apache_error")
		} else if loc, err := time.LoadLocation(f.Timezone); err != nil {
			bad("timezone", "unknown time zone %q", f.Timezone)
		} else {
			o.Location = loc
		}
	}
	if f.Type == CSV {
		switch d := f.CSV.Delimiter; {
		case d == "":
		case d == `\t` || d == "tab" || d == "\t":
			o.Delimiter = '\t'
		case len(d) == 1 && d != `"` && d != "\n" && d != "\r":
			o.Delimiter = d[0]
		default:
			bad("csv.delimiter", "must be one byte other than a quote or line break, got %q", d)
		}
		o.Columns = f.CSV.Columns
		if len(o.Columns) == 0 {
			for _, fl := range fields {
				o.Columns = append(o.Columns, fieldPath(fl))
			}
		}
	}
	var p *lineparse.Parser
	if len(errs) == 0 {
		var err error
		if p, err = lineparse.New(o); err != nil {
			key := "format"
			switch f.Type {
			case CSV:
				key = "csv.columns"
			case Regex:
				key = "regex"
			}
			bad(key, "%s", strings.TrimPrefix(err.Error(), "lineparse: "))
		}
	}
	tf := &textFormat{name: string(f.Type), p: p, header: f.CSV.Header}
	if p != nil {
		for i, fl := range fields {
			path, key := fieldPath(fl), "path"
			if fl.Path == "" {
				key = "name"
			}
			idx := p.Index(path)
			if idx < 0 {
				if fl.Name != "" {
					errs = append(errs, &FieldError{Index: i, Key: key, Msg: fmt.Sprintf("%s has no field %q (its fields: %s)", f.Type, path, fieldList(p))})
				}
				tf.cols = append(tf.cols, textColumn{field: -1})
				continue
			}
			native := fl.Type == Timestamp && fl.Format == "" && p.Fields()[idx].Kind == lineparse.Time
			tf.cols = append(tf.cols, textColumn{field: idx, native: native})
		}
		if f.Type == CSV {
			for _, c := range o.Columns {
				tf.names = append(tf.names, []byte(c))
			}
		}
	}
	d, err := New(mem, plainPaths(fields))
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	d.text = tf
	return d, nil
}

// plainPaths returns fields whose paths New accepts as given: a line
// format's field names may contain dots (a regex group cannot, a CSV
// column can), which are not paths into nested objects here.
func plainPaths(fields []Field) []Field {
	out := make([]Field, len(fields))
	for i, f := range fields {
		f.Path = strings.ReplaceAll(fieldPath(f), ".", "_")
		out[i] = f
	}
	return out
}

func fieldPath(f Field) string {
	if f.Path != "" {
		return f.Path
	}
	return f.Name
}

func fieldList(p *lineparse.Parser) string {
	var names []string
	for _, f := range p.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// Skipped returns how many inputs the last Decode call skipped, by Skip*
// reason (nil when none): input that carries no row and is not bad.
func (d *Decoder) Skipped() map[string]int {
	return d.skipped
}

func (d *Decoder) skip(why string) {
	if d.skipped == nil {
		d.skipped = make(map[string]int, 1)
	}
	d.skipped[why]++
}

// decodeRows is Decode for the formats in which one record may hold many
// rows: a row is a line (text formats) or a log event (cloudwatch_logs).
// A dead letter is one line or event (Raw holds it), or the whole record
// when it cannot be split.
func (d *Decoder) decodeRows(shard string, recs []flow.SourceRecord) (*flow.Batch, []flow.DeadLetter) {
	d.rows = 0
	for i := range d.cols {
		d.cols[i].reset()
	}
	if d.skipped != nil {
		clear(d.skipped)
	}
	origins := make([]flow.RowOrigin, 0, len(recs))
	var dead []flow.DeadLetter
	for i := range recs {
		r := &recs[i]
		origin := flow.RowOrigin{SequenceNumber: r.SequenceNumber, SubSequence: r.SubSequence, ArrivalTime: r.ArrivalTime}
		deadLetter := func(why string, raw []byte) {
			dead = append(dead, flow.DeadLetter{
				Reason: why, Shard: shard, SequenceNumber: r.SequenceNumber, SubSequence: r.SubSequence,
				ArrivalTime: r.ArrivalTime, Raw: bytes.Clone(raw),
			})
		}
		if r.Rejected != "" {
			deadLetter(r.Rejected, r.Data)
			continue
		}
		before, deadBefore := d.rows, len(dead)
		if d.text != nil {
			d.textRecord(r.Data, deadLetter)
		} else if why := d.cloudWatchRecord(r.Data, deadLetter); why != "" {
			// Found bad part-way: none of its events count.
			for j := range d.cols {
				d.cols[j].truncate(before)
			}
			d.rows, dead = before, dead[:deadBefore]
			deadLetter(why, r.Data)
			continue
		}
		for range d.rows - before {
			origins = append(origins, origin)
		}
	}
	d.sc.data = nil
	return &flow.Batch{Record: d.newRecordBatch(), Shard: shard, Origins: origins}, dead
}

// textRecord appends the rows of one record's lines.
func (d *Decoder) textRecord(data []byte, deadLetter func(string, []byte)) {
	if len(data) == 0 {
		deadLetter(reason(ReasonInvalidLine, d.text.name+": empty record"), data)
		return
	}
	multi := bytes.IndexByte(data[:len(data)-1], '\n') >= 0 // more than one line
	for n := 1; len(data) > 0; n++ {
		line := data
		if j := bytes.IndexByte(data, '\n'); j >= 0 {
			line, data = data[:j], data[j+1:]
		} else {
			data = nil
		}
		if k := len(line); k > 0 && line[k-1] == '\r' {
			line = line[:k-1]
		}
		if len(line) == 0 {
			d.skip(SkipEmptyLine)
			continue
		}
		if why := d.decodeLine(line); why != "" {
			if why == skipHeader {
				d.skip(SkipCSVHeader)
				continue
			}
			if multi {
				why += fmt.Sprintf(" (line %d of the record)", n)
			}
			deadLetter(why, line)
		}
	}
}

// skipHeader is decodeLine's answer for a CSV header line.
const skipHeader = "\x00header"

// decodeLine appends one line's row, or returns why it cannot (the columns
// are then as they were).
func (d *Decoder) decodeLine(line []byte) string {
	t := d.text
	vals, problem := t.p.Parse(line)
	if problem != "" {
		return reason(ReasonInvalidLine, t.name+": "+problem+": "+quoteLit(line))
	}
	if t.header && t.isHeader(vals) {
		return skipHeader
	}
	d.strBuf = d.strBuf[:0]
	for i := range d.cols {
		c := &d.cols[i]
		tc := &t.cols[i]
		v := vals[tc.field]
		why := ""
		switch {
		case !v.Present:
			var val value
			if why = d.convert(c, nil, &slot{kind: kindAbsent}, &val); why == "" {
				c.append(&val, d.strBuf)
			}
		case c.t == colString && asciiOrValid(v.B):
			c.data = append(c.data, v.B...)
			c.offs = append(c.offs, int32(len(c.data)))
			if c.nullable {
				c.valid = append(c.valid, true)
			}
		case tc.native:
			us, ok := t.p.Micros(tc.field, v.B)
			switch {
			case !ok:
				why = reason(ReasonInvalidTimestamp, fmt.Sprintf("%s: %s is not a %s timestamp", c.name, quoteLit(v.B), t.name))
			case us < minMicros || us > maxMicros:
				why = reason(ReasonOutOfRange, fmt.Sprintf("%s: %s is outside the years 0001-9999", c.name, quoteLit(v.B)))
			default:
				c.append(&value{i: us}, d.strBuf)
			}
		default:
			why = d.convertText(c, v.B)
		}
		if why != "" {
			for j := range i {
				d.cols[j].truncate(d.rows)
			}
			return why
		}
	}
	d.rows++
	return ""
}

func (t *textFormat) isHeader(vals []lineparse.Value) bool {
	if len(vals) != len(t.names) {
		return false
	}
	for i, v := range vals {
		if !bytes.Equal(v.B, t.names[i]) {
			return false
		}
	}
	return true
}

// asciiOrValid reports whether b is valid UTF-8, quickly for ASCII.
func asciiOrValid(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return utf8.Valid(b)
		}
	}
	return true
}

// convertText converts a present text value by the JSON rules: it is taken
// as the JSON value a record would have carried (a string for string and
// string-formatted timestamp columns; a number literal for int64, float64
// and unix timestamps; true/false for bool) and converted by convert.
func (d *Decoder) convertText(c *column, b []byte) string {
	sl := slot{kind: kindString, end: len(b)}
	switch {
	case c.t == colInt64 || c.t == colFloat64 || (c.t == colTimestamp && (c.format == tsUnix || c.format == tsUnixMs)):
		if !isNumberLiteral(b) {
			return reason(ReasonTypeMismatch, fmt.Sprintf("%s: want %s, got %s", c.name, c.want, quoteLit(b)))
		}
		sl.kind = kindNumber
	case c.t == colBool:
		switch string(b) {
		case "true":
			sl.kind = kindTrue
		case "false":
			sl.kind = kindFalse
		default:
			return reason(ReasonTypeMismatch, fmt.Sprintf("%s: want bool (true or false), got %s", c.name, quoteLit(b)))
		}
	}
	var v value
	if why := d.convert(c, b, &sl, &v); why != "" {
		return why
	}
	c.append(&v, d.strBuf)
	return ""
}

// isNumberLiteral reports whether b is exactly one JSON number.
func isNumberLiteral(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	return i == len(b)
}

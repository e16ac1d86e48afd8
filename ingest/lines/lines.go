package lines

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/processors/decode/lineparse"
)

// Reasons a line is dead-lettered or skipped.
const (
	ReasonConvert        = "convert_failed"   // the line is not in the convert format
	ReasonRecordTooLarge = "record_too_large" // over the destination's record size limit
	ReasonLineTooLong    = "line_too_long"    // over max_line_bytes (the reader cut it)
	SkipHeader           = "header"
	SkipEmpty            = "empty"
)

// Partition key modes.
const (
	KeyRandom   = "random"
	KeyLineHash = "line_hash"
	KeyField    = "field"
)

// Options configure a Processor.
type Options struct {
	// SkipHeaderLines skips this many lines at the start of every source.
	SkipHeaderLines int
	// Multiline, when set, joins lines into records.
	Multiline *Multiline
	// SingleLine trims leading and trailing white space and, for a
	// multi-line record, joins its trimmed lines with single spaces.
	SingleLine bool
	// Convert, when set, turns each record into a JSON object.
	Convert *Convert
	// Metadata keys (empty: not added).
	Metadata Metadata
	// Hostname is the value of the host metadata.
	Hostname string
	// KeyMode is KeyRandom (default), KeyLineHash or KeyField, with
	// KeyField naming the field (of the converted record, or of a JSON
	// line).
	KeyMode  string
	KeyField string
	// MaxRecordBytes is the largest record the destination takes.
	MaxRecordBytes int
}

// Multiline joins the lines of one record: a line matching StartPattern
// starts a record, the others continue it.
type Multiline struct {
	StartPattern string
	// MaxLines and MaxBytes end a record early (the next line starts a
	// new one); defaults 500 lines and the record size limit.
	MaxLines int
	MaxBytes int
	// Timeout emits a record this long after its last line when no next
	// start line came (default 1s).
	Timeout time.Duration
}

// Convert turns records into JSON objects.
type Convert struct {
	// Format is a lineparse format (csv, apache_common, apache_combined,
	// apache_error, syslog, regex).
	Format lineparse.Format
	// FieldNames renames the format's fields in order (the Kinesis Agent's
	// customFieldNames); it must name all of them.
	FieldNames []string
	// CSV: Delimiter (default ','), Columns (the field names) or Header
	// (the first line of each source names them and is not sent).
	Delimiter byte
	Columns   []string
	Header    bool
	// Numbers writes CSV values that are JSON numbers as numbers.
	Numbers bool
	// Regex is the pattern of the regex format.
	Regex string
	// Location is the zone of timestamps without one (syslog RFC 3164,
	// apache_error); nil is UTC.
	Location *time.Location
}

// Metadata names the keys of the metadata added to each record.
type Metadata struct {
	Host, File, Offset string
}

func (m Metadata) any() bool { return m.Host != "" || m.File != "" || m.Offset != "" }

// Line is one line of a source.
type Line struct {
	// Data is the line without its line break (and a CR before it).
	Data []byte
	// Offset of the line's first byte; End of the byte after its line
	// break (or after its last byte, for a last line without one).
	Offset, End int64
	// Number is the 1-based line number.
	Number int64
	// Truncated: the line was longer than the reader's limit and Data
	// holds only its start.
	Truncated bool
}

// Record is one record to put. Its byte slices are valid during the
// Sink call only.
type Record struct {
	Data []byte
	// Key is the partition key; nil asks the sender for a random one.
	Key []byte
	// Offset is where the record's first line starts; Pos is after its
	// last line.
	Offset int64
	Pos    state.Position
	Lines  int
}

// Sink receives a source's results in line order.
type Sink interface {
	// Record is a record to put.
	Record(Record) error
	// Dead is a line (or multi-line record) that cannot be put, and why.
	Dead(reason string, data []byte, offset int64, pos state.Position) error
	// Skip says the lines up to pos carry nothing to put.
	Skip(why string, pos state.Position)
}

// Source is the processing state of one source.
type Source struct {
	// Name is the value of the file metadata.
	Name string
	// the multi-line record being assembled
	pend       []byte
	pendOff    int64
	pendPos    state.Position
	pendLines  int
	pendAt     time.Time
	havePend   bool
	header     [][]byte          // `"name":` of the csv fields its header line named
	csv        *lineparse.Parser // for those fields
	headerSeen bool
	headerBad  string // why the header line is unusable
	// ReadLine reads line n (1-based) of the source again: a CSV header
	// that names the columns is needed when reading resumes after it.
	ReadLine func(n int64) ([]byte, error)
}

// Processor is the line processing of one flow.
type Processor struct {
	o        Options
	start    *regexp.Regexp
	parser   *lineparse.Parser
	names    [][]byte // `"name":` per field, when the names are fixed
	rename   []string
	keyIndex int    // KeyField: the converted field's index, -1 for a JSON line
	buf      []byte // the converted record
	text     []byte // a joined single-line record
	meta     []byte // the record with metadata
	keyBuf   []byte
}

// New checks o and builds a Processor.
func New(o Options) (*Processor, error) {
	p := &Processor{o: o, keyIndex: -1}
	if o.MaxRecordBytes <= 0 {
		return nil, fmt.Errorf("lines: MaxRecordBytes must be set")
	}
	if m := o.Multiline; m != nil {
		re, err := regexp.Compile(m.StartPattern)
		if err != nil || m.StartPattern == "" {
			return nil, fmt.Errorf("lines: multiline start pattern %q: %v", m.StartPattern, err)
		}
		p.start = re
		if m.MaxLines <= 0 {
			m.MaxLines = 500
		}
		if m.MaxBytes <= 0 || m.MaxBytes > o.MaxRecordBytes {
			m.MaxBytes = o.MaxRecordBytes
		}
		if m.Timeout <= 0 {
			m.Timeout = time.Second
		}
	}
	switch o.KeyMode {
	case "", KeyRandom, KeyLineHash:
	case KeyField:
		if o.KeyField == "" {
			return nil, fmt.Errorf("lines: partition key field: no field named")
		}
	default:
		return nil, fmt.Errorf("lines: partition key %q: want random, line_hash or field", o.KeyMode)
	}
	if c := o.Convert; c != nil {
		po := lineparse.Options{Format: c.Format, Delimiter: c.Delimiter, Columns: c.Columns, Pattern: c.Regex, Location: c.Location}
		if c.Format == lineparse.CSV && c.Header {
			if len(c.Columns) > 0 {
				return nil, fmt.Errorf("lines: csv: set columns or header, not both")
			}
			po.Columns = []string{"header"} // replaced per source
		}
		parser, err := lineparse.New(po)
		if err != nil {
			return nil, err
		}
		p.parser = parser
		if len(c.FieldNames) > 0 {
			if c.Format == lineparse.CSV && c.Header {
				return nil, fmt.Errorf("lines: field names: the csv header names the fields")
			}
			if len(c.FieldNames) != len(parser.Fields()) {
				return nil, fmt.Errorf("lines: field names: %d names for the %d fields of %s", len(c.FieldNames), len(parser.Fields()), c.Format)
			}
			p.rename = c.FieldNames
		}
		if !(c.Format == lineparse.CSV && c.Header) {
			for i, f := range parser.Fields() {
				name := f.Name
				if p.rename != nil {
					name = p.rename[i]
				}
				p.names = append(p.names, quotedKey(name))
				if o.KeyMode == KeyField && name == o.KeyField {
					p.keyIndex = i
				}
			}
			if o.KeyMode == KeyField && p.keyIndex < 0 {
				return nil, fmt.Errorf("lines: partition key field %q is not a field of %s", o.KeyField, c.Format)
			}
		}
	}
	return p, nil
}

func quotedKey(name string) []byte {
	b := appendString([]byte(nil), []byte(name))
	return append(b, ':')
}

// Line processes one line of src.
func (p *Processor) Line(src *Source, l Line, out Sink, now time.Time) error {
	pos := state.Position{Offset: l.End, Lines: l.Number}
	if l.Number <= int64(p.o.SkipHeaderLines) {
		out.Skip(SkipHeader, pos)
		return nil
	}
	if c := p.o.Convert; c != nil && c.Format == lineparse.CSV && c.Header && !src.headerSeen {
		headerLine := int64(p.o.SkipHeaderLines) + 1
		if l.Number == headerLine {
			if problem := p.setHeader(src, l.Data); problem != "" {
				return out.Dead(ReasonConvert+": csv header: "+problem, l.Data, l.Offset, pos)
			}
			out.Skip(SkipHeader, pos)
			return nil
		}
		// Reading resumed past the header (after a restart): read it again.
		if src.ReadLine == nil {
			src.headerSeen, src.headerBad = true, "the header line cannot be read again"
		} else {
			hl, err := src.ReadLine(headerLine)
			if err != nil {
				return fmt.Errorf("lines: %s: read the csv header (line %d) again: %w", src.Name, headerLine, err)
			}
			p.setHeader(src, hl)
		}
	}
	if l.Truncated {
		if err := p.flushPending(src, out); err != nil {
			return err
		}
		return out.Dead(ReasonLineTooLong+": the line is longer than max_line_bytes; its start is kept", l.Data, l.Offset, pos)
	}
	if p.start == nil {
		return p.record(src, l.Data, l.Offset, pos, 1, out)
	}
	m := p.o.Multiline
	if src.havePend && !p.start.Match(l.Data) &&
		src.pendLines < m.MaxLines && len(src.pend)+1+len(l.Data) <= m.MaxBytes {
		src.pend = append(append(src.pend, '\n'), l.Data...)
		src.pendPos, src.pendAt = pos, now
		src.pendLines++
		return nil
	}
	if err := p.flushPending(src, out); err != nil {
		return err
	}
	src.pend = append(src.pend[:0], l.Data...)
	src.pendOff, src.pendPos, src.pendLines, src.pendAt, src.havePend = l.Offset, pos, 1, now, true
	return nil
}

// Flush emits the multi-line record being assembled, if any (the source
// ended).
func (p *Processor) Flush(src *Source, out Sink) error { return p.flushPending(src, out) }

// FlushIdle emits the multi-line record being assembled once it waited
// longer than the multiline timeout.
func (p *Processor) FlushIdle(src *Source, now time.Time, out Sink) error {
	if src.havePend && now.Sub(src.pendAt) >= p.o.Multiline.Timeout {
		return p.flushPending(src, out)
	}
	return nil
}

// Pending reports whether src holds an incomplete multi-line record.
func (p *Processor) Pending(src *Source) bool { return src.havePend }

func (p *Processor) flushPending(src *Source, out Sink) error {
	if !src.havePend {
		return nil
	}
	src.havePend = false
	err := p.record(src, src.pend, src.pendOff, src.pendPos, src.pendLines, out)
	if cap(src.pend) > 1<<20 {
		src.pend = nil
	}
	return err
}

// setHeader takes the source's column names from its header line, or
// returns (and remembers) why they are unusable.
func (p *Processor) setHeader(src *Source, line []byte) string {
	src.headerSeen = true
	vals, problem := headerParser(p.o.Convert, line)
	if problem != "" {
		src.headerBad = fmt.Sprintf("the header line is unusable (%s)", problem)
		return problem
	}
	src.header = src.header[:0]
	for _, v := range vals {
		src.header = append(src.header, quotedKey(v))
	}
	return ""
}

// headerParser splits a CSV header line with the flow's delimiter.
func headerParser(c *Convert, line []byte) ([]string, string) {
	r := csv.NewReader(bytes.NewReader(line))
	r.Comma = rune(orComma(c.Delimiter))
	r.FieldsPerRecord = -1
	names, err := r.Read()
	if err != nil {
		return nil, err.Error()
	}
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || seen[n] {
			return nil, fmt.Sprintf("column %d: empty or duplicate name %q", i+1, n)
		}
		seen[n] = true
	}
	return names, ""
}

func orComma(b byte) byte {
	if b == 0 {
		return ','
	}
	return b
}

// record builds the record of one line or multi-line text.
func (p *Processor) record(src *Source, text []byte, offset int64, pos state.Position, nlines int, out Sink) error {
	if p.o.SingleLine {
		text = p.singleLine(text)
	}
	if len(text) == 0 {
		out.Skip(SkipEmpty, pos)
		return nil
	}
	var key []byte
	data := text
	isObject := false
	if c := p.o.Convert; c != nil {
		var problem string
		data, key, problem = p.convert(src, text)
		if problem != "" {
			return out.Dead(ReasonConvert+": "+string(c.Format)+": "+problem, text, offset, pos)
		}
		isObject = true
	}
	if p.o.KeyMode == KeyField && p.o.Convert == nil {
		if v, ok := topLevelValue(text, p.o.KeyField); ok {
			key = append(p.keyBuf[:0], v...)
			p.keyBuf = key
		}
	}
	if p.o.Metadata.any() {
		if !isObject {
			t := bytes.TrimSpace(text)
			isObject = len(t) >= 2 && t[0] == '{' && t[len(t)-1] == '}' && json.Valid(t)
			if isObject {
				data = t
			}
		}
		data = p.addMetadata(src, data, isObject, offset)
	}
	switch p.o.KeyMode {
	case KeyLineHash:
		h := fnv.New64a()
		h.Write(data)
		key = strconv.AppendUint(p.keyBuf[:0], h.Sum64(), 16)
		p.keyBuf = key
	case KeyField:
		key = clampKey(key)
	}
	if len(data)+len(key) > p.o.MaxRecordBytes {
		return out.Dead(fmt.Sprintf("%s: %d bytes, the limit is %d", ReasonRecordTooLarge, len(data)+len(key), p.o.MaxRecordBytes), text, offset, pos)
	}
	return out.Record(Record{Data: data, Key: key, Offset: offset, Pos: pos, Lines: nlines})
}

// clampKey keeps a partition key within Kinesis' 256 characters (cut at a
// rune boundary); an empty one is nil (random).
func clampKey(key []byte) []byte {
	if len(key) == 0 {
		return nil
	}
	if utf8.RuneCount(key) <= 256 {
		return key
	}
	n := 0
	for i := range string(key) {
		if n == 256 {
			return key[:i]
		}
		n++
	}
	return key
}

func (p *Processor) singleLine(text []byte) []byte {
	if bytes.IndexByte(text, '\n') < 0 {
		return bytes.TrimSpace(text)
	}
	out := p.text[:0]
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if len(out) > 0 {
				out = append(out, ' ')
			}
			out = append(out, line...)
		}
	}
	p.text = out
	return out
}

// convert renders the parsed line as a JSON object; key is the partition
// key field's value.
func (p *Processor) convert(src *Source, text []byte) (data, key []byte, problem string) {
	c := p.o.Convert
	names := p.names
	parser := p.parser
	if c.Format == lineparse.CSV && c.Header {
		if src.headerBad != "" {
			return nil, nil, src.headerBad
		}
		names = src.header
		var err error
		if parser, err = p.headerLineParser(src); err != nil {
			return nil, nil, err.Error()
		}
	}
	vals, problem := parser.Parse(text)
	if problem != "" {
		return nil, nil, problem
	}
	specs := parser.Fields()
	b := append(p.buf[:0], '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, names[i]...)
		if !v.Present {
			b = append(b, "null"...)
			continue
		}
		switch specs[i].Kind {
		case lineparse.Time:
			us, ok := parser.Micros(i, v.B)
			if !ok {
				p.buf = b
				return nil, nil, fmt.Sprintf("field %s: %q is not in the %s timestamp layout", specs[i].Name, v.B, c.Format)
			}
			b = append(b, '"')
			b = lineparse.AppendRFC3339(b, us)
			b = append(b, '"')
		case lineparse.Integer:
			if isInteger(v.B) {
				b = append(b, v.B...)
			} else {
				b = appendString(b, v.B)
			}
		default:
			if c.Numbers && c.Format == lineparse.CSV && isNumber(v.B) {
				b = append(b, v.B...)
			} else {
				b = appendString(b, v.B)
			}
		}
	}
	b = append(b, '}')
	p.buf = b
	ki := p.keyIndex
	if c.Format == lineparse.CSV && c.Header && p.o.KeyMode == KeyField {
		ki = -1
		want := quotedKey(p.o.KeyField)
		for i, n := range names {
			if bytes.Equal(n, want) {
				ki = i
			}
		}
	}
	if ki >= 0 && vals[ki].Present {
		key = vals[ki].B
	}
	return b, key, ""
}

// headerLineParser is the CSV parser for a source whose header named its
// columns; it is cached on the source.
func (p *Processor) headerLineParser(src *Source) (*lineparse.Parser, error) {
	if src.csv != nil {
		return src.csv, nil
	}
	cols := make([]string, len(src.header))
	for i, h := range src.header {
		var s string
		json.Unmarshal(h[:len(h)-1], &s) // our own quotedKey: valid JSON
		cols[i] = s
	}
	parser, err := lineparse.New(lineparse.Options{Format: lineparse.CSV, Delimiter: p.o.Convert.Delimiter, Columns: cols})
	if err != nil {
		return nil, err
	}
	src.csv = parser
	return parser, nil
}

func (p *Processor) addMetadata(src *Source, data []byte, isObject bool, offset int64) []byte {
	m := p.o.Metadata
	b := p.meta[:0]
	if isObject {
		b = append(b, data[:len(data)-1]...) // without its '}'
		if len(bytes.TrimSpace(data[1:len(data)-1])) > 0 {
			b = append(b, ',')
		}
	} else {
		b = append(b, `{"message":`...)
		b = appendString(b, data)
		b = append(b, ',')
	}
	first := true
	add := func(key string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, []byte(key))
		b = append(b, ':')
	}
	if m.Host != "" {
		add(m.Host)
		b = appendString(b, []byte(p.o.Hostname))
	}
	if m.File != "" {
		add(m.File)
		b = appendString(b, []byte(src.Name))
	}
	if m.Offset != "" {
		add(m.Offset)
		b = strconv.AppendInt(b, offset, 10)
	}
	b = append(b, '}')
	p.meta = b
	return b
}

// isInteger: a non-negative decimal integer without leading zeros, short
// enough to be exact in every JSON reader (≤ 15 digits).
func isInteger(b []byte) bool {
	if len(b) == 0 || len(b) > 15 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isNumber: exactly one JSON number (RFC 8259 grammar).
func isNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i == len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

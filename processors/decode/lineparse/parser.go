package lineparse

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Format names a line format.
type Format string

// The formats a Parser understands.
const (
	CSV            Format = "csv"
	ApacheCommon   Format = "apache_common"
	ApacheCombined Format = "apache_combined"
	ApacheError    Format = "apache_error"
	// Syslog is RFC 5424 when the priority is followed by a version
	// ("<165>1 "), RFC 3164 otherwise (with or without the priority).
	Syslog Format = "syslog"
	Regex  Format = "regex"
)

// Formats lists every format, for error messages and documentation.
var Formats = []Format{CSV, ApacheCommon, ApacheCombined, ApacheError, Syslog, Regex}

// Kind says what a field's text is, for callers that type it.
type Kind uint8

const (
	// Text is any text.
	Text Kind = iota
	// Integer is a decimal integer when present (a status code, a byte
	// count, a process id in RFC 3164), or text where the format allows
	// something else (an RFC 5424 PROCID may be any name).
	Integer
	// Time is the format's timestamp text; Parser.Micros converts it.
	Time
)

// FieldSpec names one field a format yields.
type FieldSpec struct {
	Name string
	Kind Kind
}

// Value is one field of a parsed line.
type Value struct {
	B       []byte
	Present bool
}

// Options configures a Parser.
type Options struct {
	Format Format
	// Delimiter separates CSV fields (default ','). It must not be a
	// quote, CR or LF.
	Delimiter byte
	// Columns names the CSV fields in order (required for CSV).
	Columns []string
	// Pattern is the regular expression (RE2 syntax) of the regex format;
	// its named groups are the fields. Anchor it (^...$) to reject lines it
	// only partly matches.
	Pattern string
	// Location is the time zone of timestamps that carry none (RFC 3164,
	// Apache error log); nil means UTC.
	Location *time.Location
	// Now gives the current time for RFC 3164's missing year (default
	// time.Now).
	Now func() time.Time
}

// Parser splits lines of one format. See the package documentation.
type Parser struct {
	format  Format
	fields  []FieldSpec
	vals    []Value
	scratch []byte
	delim   byte
	re      *regexp.Regexp
	groups  []int // regex: submatch index of each field
	loc     *time.Location
	now     func() time.Time
}

// Field indexes shared by the formats, so that their parsers can fill values
// by constant index.
const (
	// Apache access logs.
	acClient = iota
	acIdent
	acUser
	acTime
	acRequest
	acMethod
	acPath
	acProtocol
	acStatus
	acBytes
	acReferrer
	acUserAgent
)

var apacheCommonFields = []FieldSpec{
	{"client", Text}, {"ident", Text}, {"user", Text}, {"time", Time}, {"request", Text},
	{"method", Text}, {"path", Text}, {"protocol", Text}, {"status", Integer}, {"bytes", Integer},
}

var apacheCombinedFields = append(append([]FieldSpec(nil), apacheCommonFields...),
	FieldSpec{"referrer", Text}, FieldSpec{"user_agent", Text})

const (
	aeTime = iota
	aeModule
	aeLevel
	aePid
	aeTid
	aeClient
	aeMessage
)

var apacheErrorFields = []FieldSpec{
	{"time", Time}, {"module", Text}, {"level", Text}, {"pid", Integer}, {"tid", Integer},
	{"client", Text}, {"message", Text},
}

const (
	slPriority = iota
	slFacility
	slSeverity
	slVersion
	slTime
	slHost
	slProgram
	slPid
	slMsgID
	slStructuredData
	slMessage
)

var syslogFields = []FieldSpec{
	{"priority", Integer}, {"facility", Integer}, {"severity", Integer}, {"version", Integer},
	{"time", Time}, {"host", Text}, {"program", Text}, {"pid", Integer}, {"msgid", Text},
	{"structured_data", Text}, {"message", Text},
}

// New checks o and builds a Parser.
func New(o Options) (*Parser, error) {
	p := &Parser{format: o.Format, loc: o.Location, now: o.Now}
	if p.loc == nil {
		p.loc = time.UTC
	}
	if p.now == nil {
		p.now = time.Now
	}
	switch o.Format {
	case CSV:
		p.delim = o.Delimiter
		if p.delim == 0 {
			p.delim = ','
		}
		if p.delim == '"' || p.delim == '\r' || p.delim == '\n' {
			return nil, fmt.Errorf("lineparse: csv delimiter %q: must not be a quote, CR or LF", p.delim)
		}
		if len(o.Columns) == 0 {
			return nil, fmt.Errorf("lineparse: csv needs its column names")
		}
		if err := uniqueNames(o.Columns); err != nil {
			return nil, fmt.Errorf("lineparse: csv columns: %w", err)
		}
		for _, c := range o.Columns {
			p.fields = append(p.fields, FieldSpec{c, Text})
		}
	case ApacheCommon:
		p.fields = apacheCommonFields
	case ApacheCombined:
		p.fields = apacheCombinedFields
	case ApacheError:
		p.fields = apacheErrorFields
	case Syslog:
		p.fields = syslogFields
	case Regex:
		if o.Pattern == "" {
			return nil, fmt.Errorf("lineparse: regex needs a pattern")
		}
		re, err := regexp.Compile(o.Pattern)
		if err != nil {
			return nil, fmt.Errorf("lineparse: regex: %w", err)
		}
		var names []string
		for i, n := range re.SubexpNames() {
			if n != "" {
				names = append(names, n)
				p.groups = append(p.groups, i)
				p.fields = append(p.fields, FieldSpec{n, Text})
			}
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("lineparse: regex %q has no named group ((?P<name>...))", o.Pattern)
		}
		if err := uniqueNames(names); err != nil {
			return nil, fmt.Errorf("lineparse: regex groups: %w", err)
		}
		p.re = re
	default:
		return nil, fmt.Errorf("lineparse: unknown format %q (want one of %s)", o.Format, formatList())
	}
	p.vals = make([]Value, len(p.fields))
	return p, nil
}

func formatList() string {
	s := make([]string, len(Formats))
	for i, f := range Formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

func uniqueNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" {
			return fmt.Errorf("empty name")
		}
		if seen[n] {
			return fmt.Errorf("duplicate name %q", n)
		}
		seen[n] = true
	}
	return nil
}

// Format returns the parser's format.
func (p *Parser) Format() Format { return p.format }

// Fields returns the fields every Parse yields, in order. The slice must not
// be modified.
func (p *Parser) Fields() []FieldSpec { return p.fields }

// Index returns the position of the named field, or -1.
func (p *Parser) Index(name string) int {
	for i, f := range p.fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Parse splits one line (without its line break) into fields. It returns
// the values, valid until the next call, or a non-empty problem: a short,
// constant description of what is wrong, for a dead-letter reason.
func (p *Parser) Parse(line []byte) ([]Value, string) {
	clear(p.vals)
	p.scratch = p.scratch[:0]
	var problem string
	switch p.format {
	case CSV:
		problem = p.parseCSV(line)
	case ApacheCommon:
		problem = p.parseAccess(line, false)
	case ApacheCombined:
		problem = p.parseAccess(line, true)
	case ApacheError:
		problem = p.parseError(line)
	case Syslog:
		problem = p.parseSyslog(line)
	case Regex:
		problem = p.parseRegex(line)
	}
	if problem != "" {
		return nil, problem
	}
	return p.vals, ""
}

func (p *Parser) set(i int, b []byte) {
	p.vals[i] = Value{B: b, Present: true}
}

// setDash sets a field that the format writes as "-" when it has no value.
func (p *Parser) setDash(i int, b []byte) {
	if len(b) == 1 && b[0] == '-' {
		return
	}
	p.vals[i] = Value{B: b, Present: true}
}

func (p *Parser) parseRegex(line []byte) string {
	m := p.re.FindSubmatchIndex(line)
	if m == nil {
		return "does not match the pattern"
	}
	for i, g := range p.groups {
		if s, e := m[2*g], m[2*g+1]; s >= 0 {
			p.set(i, line[s:e])
		}
	}
	return ""
}

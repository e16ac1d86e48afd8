package firehoselocal

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// S3 prefix expressions (Firehose developer guide, "Custom prefixes for
// Amazon S3 objects"): !{timestamp:<Java DateTimeFormatter pattern>},
// !{firehose:random-string} and, in ErrorOutputPrefix only,
// !{firehose:error-output-type}.

const (
	maxEvaluatedPrefix = 512
	randomStringLen    = 11
	// defaultTimestampPattern is appended to a prefix that has no
	// !{timestamp:...} expression.
	defaultTimestampPattern = "yyyy/MM/dd/HH/"
)

type segmentKind int

const (
	segLiteral segmentKind = iota
	segTimestamp
	segRandomString
	segErrorOutputType
	segPartitionKey // literal holds the key name
)

type segment struct {
	kind    segmentKind
	literal string        // segLiteral
	format  []formatToken // segTimestamp
}

// prefixTemplate is a parsed Prefix or ErrorOutputPrefix.
type prefixTemplate struct {
	segments     []segment
	expressions  bool // the configured text had at least one !{...}
	timestamp    bool // ... a !{timestamp:...}
	errorOutType bool // ... a !{firehose:error-output-type}
	partitionKey bool // ... a !{partitionKeyFromQuery:...}
}

// prefixRuleError answers a broken prefix rule the way the service words
// it. The "Ths" typo is the service's own: log matching written against AWS
// works here too.
func prefixRuleError(format string, args ...any) *apiError {
	return invalidArgument("Ths supplied prefix(es) do not satisfy the following constraint: "+format, args...)
}

// parsePrefix parses the text of a Prefix or ErrorOutputPrefix member
// (named by field in messages). It checks the syntax only; the rules that
// tie Prefix and ErrorOutputPrefix together are checked by the caller.
// !{partitionKeyFromQuery:name} is parsed; whether it is allowed is the
// caller's rule too.
func parsePrefix(field, text string) (prefixTemplate, error) {
	var p prefixTemplate
	rest := text
	for {
		i := strings.Index(rest, "!{")
		if i < 0 {
			p.addLiteral(rest)
			return p, nil
		}
		p.addLiteral(rest[:i])
		rest = rest[i+2:]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return p, prefixRuleError("The sequence !{ can only appear in !{namespace:value} expressions; %s has an unterminated expression", field)
		}
		expr := rest[:end]
		rest = rest[end+1:]
		if strings.Contains(expr, "!{") {
			return p, prefixRuleError("Expressions cannot be nested; %s has !{%s}", field, expr)
		}
		ns, value, ok := strings.Cut(expr, ":")
		if !ok {
			return p, prefixRuleError("The sequence !{ can only appear in !{namespace:value} expressions; %s has !{%s}", field, expr)
		}
		p.expressions = true
		switch ns {
		case "timestamp":
			tokens, err := parseJavaPattern(value)
			if err != nil {
				return p, err
			}
			p.segments = append(p.segments, segment{kind: segTimestamp, format: tokens})
			p.timestamp = true
		case "firehose":
			switch value {
			case "random-string":
				p.segments = append(p.segments, segment{kind: segRandomString})
			case "error-output-type":
				p.segments = append(p.segments, segment{kind: segErrorOutputType})
				p.errorOutType = true
			default:
				return p, prefixRuleError("Unsupported value %q for namespace firehose in %s; valid values are random-string and error-output-type", value, field)
			}
		case "partitionKeyFromQuery":
			if value == "" {
				return p, prefixRuleError("!{partitionKeyFromQuery:} in %s names no key", field)
			}
			p.segments = append(p.segments, segment{kind: segPartitionKey, literal: value})
			p.partitionKey = true
		case "partitionKeyFromLambda":
			return p, unsupported("!{partitionKeyFromLambda:...} in " + field + " (Lambda processors are not emulated)")
		default:
			return p, prefixRuleError("Unsupported namespace %q in %s; valid namespaces are firehose, timestamp, partitionKeyFromQuery and partitionKeyFromLambda", ns, field)
		}
	}
}

func (p *prefixTemplate) addLiteral(s string) {
	if s != "" {
		p.segments = append(p.segments, segment{kind: segLiteral, literal: s})
	}
}

// withDefaultTimestamp appends !{timestamp:yyyy/MM/dd/HH/} when the prefix
// has no timestamp expression, as the service does.
func (p prefixTemplate) withDefaultTimestamp() prefixTemplate {
	if p.timestamp {
		return p
	}
	tokens, err := parseJavaPattern(defaultTimestampPattern)
	if err != nil {
		panic("firehoselocal: default timestamp pattern: " + err.Error())
	}
	out := p
	out.segments = append(append([]segment(nil), p.segments...), segment{kind: segTimestamp, format: tokens})
	out.timestamp = true
	return out
}

// eval renders the prefix for an object whose oldest record arrived at t:
// every timestamp expression is the same instant (UTC), every random-string
// a new 11-character string, every partitionKeyFromQuery the record's key.
func (p *prefixTemplate) eval(t time.Time, errorOutputType string) string {
	return p.evalKeys(t, errorOutputType, nil, true)
}

// evalKeys is eval with partition keys; without random strings it gives a
// partition's identity.
func (p *prefixTemplate) evalKeys(t time.Time, errorOutputType string, keys map[string]string, random bool) string {
	t = t.UTC()
	var b strings.Builder
	for _, s := range p.segments {
		switch s.kind {
		case segLiteral:
			b.WriteString(s.literal)
		case segTimestamp:
			formatJava(&b, s.format, t)
		case segRandomString:
			if random {
				b.WriteString(uuid.NewString()[:randomStringLen])
			}
		case segErrorOutputType:
			b.WriteString(errorOutputType)
		case segPartitionKey:
			if v, ok := keys[s.literal]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(strings.Repeat("k", maxPartitionKeyLen)) // length checks: the widest value
			}
		}
	}
	return b.String()
}

// widestInstant makes every supported timestamp field take its widest form
// (two-digit month, day, hour...), so eval at it gives the longest
// evaluation of a template.
var widestInstant = time.Date(2099, 12, 28, 23, 59, 59, 999999999, time.UTC)

// longestErrorOutputType is the longest value !{firehose:error-output-type}
// takes for the destinations firehose-local emulates.
const longestErrorOutputType = "format-conversion-failed"

// maxPartitionKeyLen is what a partition key counts for in the 512-character
// check at creation; longer values are checked per object.
const maxPartitionKeyLen = 1

func checkEvaluatedLength(field string, p *prefixTemplate) error {
	if n := len(p.eval(widestInstant, longestErrorOutputType)); n > maxEvaluatedPrefix {
		return prefixRuleError("%s cannot be longer than %d characters after evaluation (it evaluates to up to %d)", field, maxEvaluatedPrefix, n)
	}
	return nil
}

// formatToken is one element of a Java DateTimeFormatter pattern: a literal
// or a run of one pattern letter.
type formatToken struct {
	letter  byte // 0 for a literal
	count   int
	literal string
}

// parseJavaPattern parses the subset of java.time.format.DateTimeFormatter
// patterns that firehose-local evaluates: y/u (year), M (month number), d,
// H, m, s, S (fraction), quoted literals ('...', with a doubled quote for a quote) and any
// other non-letter character taken literally.
func parseJavaPattern(pattern string) ([]formatToken, error) {
	if pattern == "" {
		return nil, prefixRuleError("The timestamp namespace needs a DateTimeFormatter pattern: !{timestamp:} is empty")
	}
	var out []formatToken
	lit := func(s string) {
		if n := len(out); n > 0 && out[n-1].letter == 0 {
			out[n-1].literal += s
			return
		}
		out = append(out, formatToken{literal: s})
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				lit("'")
				i += 2
				continue
			}
			var b strings.Builder
			j := i + 1
			for ; j < len(pattern); j++ {
				if pattern[j] != '\'' {
					b.WriteByte(pattern[j])
					continue
				}
				if j+1 < len(pattern) && pattern[j+1] == '\'' {
					b.WriteByte('\'')
					j++
					continue
				}
				break
			}
			if j >= len(pattern) {
				return nil, prefixRuleError("Invalid timestamp pattern %q: unterminated quoted literal", pattern)
			}
			lit(b.String())
			i = j + 1
		case isASCIILetter(c):
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			n := j - i
			if err := checkPatternLetter(pattern, c, n); err != nil {
				return nil, err
			}
			out = append(out, formatToken{letter: c, count: n})
			i = j
		case c == '[' || c == ']':
			return nil, unsupported(fmt.Sprintf("Optional sections [...] in the timestamp pattern %q", pattern))
		case c == '{' || c == '}' || c == '#':
			return nil, prefixRuleError("Invalid timestamp pattern %q: %q is reserved", pattern, string(c))
		default:
			lit(string(c))
			i++
		}
	}
	return out, nil
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func checkPatternLetter(pattern string, c byte, n int) error {
	tooMany := func() error {
		return prefixRuleError("Invalid timestamp pattern %q: too many pattern letters: %s", pattern, string(c))
	}
	switch c {
	case 'y', 'u':
		return nil
	case 'M':
		if n > 2 {
			return unsupported(fmt.Sprintf("Month names (%s) in the timestamp pattern %q", strings.Repeat("M", n), pattern))
		}
	case 'd', 'H', 'm', 's':
		if n > 2 {
			return tooMany()
		}
	case 'S':
		if n > 9 {
			return tooMany()
		}
	default:
		return unsupported(fmt.Sprintf("The pattern letter %q in the timestamp pattern %q", string(c), pattern))
	}
	return nil
}

// formatJava appends t formatted by tokens, as DateTimeFormatter would.
func formatJava(b *strings.Builder, tokens []formatToken, t time.Time) {
	pad := func(v, width int) {
		s := strconv.Itoa(v)
		for i := len(s); i < width; i++ {
			b.WriteByte('0')
		}
		b.WriteString(s)
	}
	for _, tk := range tokens {
		switch tk.letter {
		case 0:
			b.WriteString(tk.literal)
		case 'y', 'u':
			if tk.count == 2 {
				pad(t.Year()%100, 2)
			} else {
				pad(t.Year(), tk.count)
			}
		case 'M':
			pad(int(t.Month()), tk.count)
		case 'd':
			pad(t.Day(), tk.count)
		case 'H':
			pad(t.Hour(), tk.count)
		case 'm':
			pad(t.Minute(), tk.count)
		case 's':
			pad(t.Second(), tk.count)
		case 'S':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			b.WriteString(frac[:tk.count])
		}
	}
}

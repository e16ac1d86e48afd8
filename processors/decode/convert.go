package decode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// The timestamps a column accepts: those RFC 3339 (and the NDJSON encoder)
// can write back, years 0001 to 9999.
var (
	minMicros = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxMicros = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// convert turns the value found for column c into v, or returns the reason
// the record cannot become a row. The success path does not allocate.
func (d *Decoder) convert(c *column, data []byte, sl *slot, v *value) string {
	*v = value{}
	switch sl.kind {
	case kindAbsent, kindNull:
		switch {
		case c.hasDef:
			*v = c.def
		case c.nullable:
			v.null = true
		case c.path != c.name:
			return reason(ReasonMissingField, c.name+" (path "+c.path+")")
		default:
			return reason(ReasonMissingField, c.name)
		}
		return ""
	case kindBadParent:
		return reason(ReasonTypeMismatch, fmt.Sprintf("%s: want object at %q, got %s",
			c.name, d.sc.nodes[sl.parent].path, sl.parentKind.jsonName()))
	}
	raw := data[sl.start:sl.end]
	switch c.t {
	case colString:
		if sl.kind != kindString {
			return d.mismatch(c, sl)
		}
		if !sl.ascii && !utf8.Valid(raw) {
			return reason(ReasonInvalidUTF8, c.name)
		}
		if !sl.esc {
			v.b = raw
			return ""
		}
		off := len(d.strBuf)
		var lone bool
		if d.strBuf, lone = unescape(d.strBuf, raw); lone {
			return reason(ReasonInvalidUTF8, c.name+": unpaired surrogate escape")
		}
		v.inBuf, v.off, v.end = true, off, len(d.strBuf)
	case colInt64:
		if sl.kind != kindNumber {
			return d.mismatch(c, sl)
		}
		n, st := scaledInt(raw, 0, false)
		switch st {
		case numFractional:
			return reason(ReasonTypeMismatch, fmt.Sprintf("%s: want int64, got non-integer number %s", c.name, quoteLit(raw)))
		case numOverflow:
			return reason(ReasonOutOfRange, fmt.Sprintf("%s: %s does not fit in int64", c.name, quoteLit(raw)))
		}
		v.i = n
	case colFloat64:
		if sl.kind != kindNumber {
			return d.mismatch(c, sl)
		}
		// The scanner admitted only JSON number syntax, so ParseFloat's
		// extensions (hex, "inf", underscores) cannot occur; underflow
		// rounds to zero like every JSON parser.
		if f, ok := parseFloatFast(raw); ok {
			v.f = f
			return ""
		}
		f, err := strconv.ParseFloat(unsafeString(raw), 64)
		if err != nil || math.IsInf(f, 0) {
			return reason(ReasonOutOfRange, fmt.Sprintf("%s: %s overflows float64", c.name, quoteLit(raw)))
		}
		v.f = f
	case colBool:
		switch sl.kind {
		case kindTrue:
			v.i = 1
		case kindFalse:
		default:
			return d.mismatch(c, sl)
		}
	case colTimestamp:
		return d.timestamp(c, raw, sl, v)
	}
	return ""
}

func (d *Decoder) mismatch(c *column, sl *slot) string {
	return reason(ReasonTypeMismatch, c.name+": want "+c.want+", got "+sl.kind.jsonName())
}

func (d *Decoder) timestamp(c *column, raw []byte, sl *slot, v *value) string {
	var micros int64
	switch c.format {
	case tsUnix, tsUnixMs:
		if sl.kind != kindNumber {
			return d.mismatch(c, sl)
		}
		shift := 6
		if c.format == tsUnixMs {
			shift = 3
		}
		n, st := scaledInt(raw, shift, true)
		if st != numOK || n < minMicros || n > maxMicros {
			return reason(ReasonOutOfRange, fmt.Sprintf("%s: %s is outside the years 0001-9999", c.name, quoteLit(raw)))
		}
		micros = n
	default:
		if sl.kind != kindString {
			return d.mismatch(c, sl)
		}
		s := raw
		if sl.esc { // rare: "\/" in a date with slashes
			off := len(d.strBuf)
			d.strBuf, _ = unescape(d.strBuf, raw)
			s = d.strBuf[off:]
		}
		if c.format == tsRFC3339 {
			if us, ok := c.rfc.parse(s); ok {
				v.i = us
				return ""
			}
		}
		t, err := time.Parse(c.layout, unsafeString(s))
		if err != nil {
			detail := fmt.Sprintf("%s: %s does not match %s", c.name, quoteLit(s), c.want)
			var pe *time.ParseError
			if errors.As(err, &pe) {
				if pe.Message != "" {
					detail += pe.Message // e.g. ": hour out of range"
				} else {
					detail += ": cannot parse " + quoteLit([]byte(pe.ValueElem)) + " as " + strconv.Quote(pe.LayoutElem)
				}
			}
			return reason(ReasonInvalidTimestamp, detail)
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return reason(ReasonOutOfRange, fmt.Sprintf("%s: %s is outside the years 0001-9999", c.name, quoteLit(s)))
		}
		micros = t.UnixMicro()
	}
	v.i = micros
	return ""
}

// unsafeString views b as a string without copying, for parsers that do not
// keep their input (strconv.ParseFloat, time.Parse). A parse error that quotes
// the input is formatted before b changes.
func unsafeString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// float64pow10 holds the powers of ten that float64 represents exactly.
var float64pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloatFast converts the (already validated) JSON number literal lit
// when it has no exponent and at most 15 digits: the digits as an integer
// (below 2^53, so exact) divided by an exact power of ten is one correctly
// rounded operation, the same float64 strconv.ParseFloat returns (its own
// exact fast path). Anything else is left to strconv.
func parseFloatFast(lit []byte) (float64, bool) {
	i, neg := 0, false
	if len(lit) > 0 && lit[0] == '-' {
		i, neg = 1, true
	}
	var m uint64
	digits, frac := 0, -1
	for ; i < len(lit); i++ {
		c := lit[i]
		switch {
		case '0' <= c && c <= '9':
			m = m*10 + uint64(c-'0')
			digits++
		case c == '.' && frac < 0:
			frac = digits
		default: // an exponent
			return 0, false
		}
	}
	if digits == 0 || digits > 15 {
		return 0, false
	}
	f := float64(m)
	if frac >= 0 {
		f /= float64pow10[digits-frac]
	}
	if neg {
		f = -f
	}
	return f, true
}

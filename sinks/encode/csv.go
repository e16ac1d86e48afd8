package encode

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// CSVOptions configures a CSV encoder. The zero value is the dialect
// PostgreSQL's COPY ... (FORMAT csv) and Redshift's COPY ... CSV read with
// their defaults.
type CSVOptions struct {
	// Delimiter separates fields (default ','). It must be one ASCII byte
	// other than '"', CR, LF and space, as COPY requires.
	Delimiter byte
	// Null is the text written for a null (default "": an empty, unquoted
	// field). A non-null string equal to it is quoted, so the two stay
	// distinct for a COPY that names the same NULL AS string (PostgreSQL
	// never matches a quoted field against it). It must not contain the
	// delimiter, '"', CR or LF.
	Null string
}

// CSV writes rows as RFC 4180 lines terminated by '\n' in the dialect of
// PostgreSQL's COPY ... (FORMAT csv), which Redshift's COPY ... CSV shares:
//
//   - a field is quoted with '"' only when it must be: it contains the
//     delimiter, '"', CR or LF, starts or ends with a space or tab, is empty,
//     equals the null string, or is `\.` (PostgreSQL's end-of-data marker);
//     quotes inside are doubled;
//   - a null is the null string, unquoted (by default an empty field), and
//     the empty string is `""`, so COPY loads NULL and "" apart;
//   - int64 in decimal, float64 in the shortest form that reads back to the
//     same float64 (exponent form only below 1e-6 or from 1e21), NaN and ±Inf
//     as null, bools as true/false;
//   - timestamps as UTC `2006-01-02 15:04:05.999999` (trailing zeros of the
//     fraction dropped, no fraction when it is zero), which PostgreSQL's
//     timestamp input and Redshift's TIMEFORMAT 'auto' read.
//
// Invalid UTF-8 bytes in a string become U+FFFD (COPY rejects the whole load
// otherwise), as in NDJSON. NUL bytes are written as they are: CSV has no
// escape for them and PostgreSQL refuses them in text, so a pipeline that can
// carry them should clean them in a transform.
type CSV struct {
	schema *arrow.Schema
	kinds  []arrow.Type
	delim  byte
	null   string
	// class[c] classifies byte c for appendString.
	class  [256]byte
	header []byte
}

// NewCSV builds an encoder for batches of schema. Columns must be string
// (utf8), int64, float64, bool or timestamp in microseconds; anything else is
// an error naming the column, as are invalid options.
func NewCSV(schema *arrow.Schema, opts CSVOptions) (*CSV, error) {
	if opts.Delimiter == 0 {
		opts.Delimiter = ','
	}
	switch d := opts.Delimiter; {
	case d == '"' || d == '\r' || d == '\n' || d == ' ':
		return nil, fmt.Errorf("encode: csv delimiter %q is not allowed (it must differ from the quote, CR, LF and space)", d)
	case d >= utf8.RuneSelf:
		return nil, fmt.Errorf("encode: csv delimiter %#x is not ASCII", d)
	}
	if strings.ContainsAny(opts.Null, "\"\r\n") || strings.IndexByte(opts.Null, opts.Delimiter) >= 0 {
		return nil, errors.New("encode: csv null string must not contain the delimiter, '\"', CR or LF")
	}
	if !utf8.ValidString(opts.Null) {
		return nil, errors.New("encode: csv null string is not valid UTF-8")
	}
	e := &CSV{schema: schema, delim: opts.Delimiter, null: opts.Null}
	for _, c := range []byte{opts.Delimiter, '"', '\r', '\n'} {
		e.class[c] = classSpecial
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		e.class[c] = classNonASCII
	}
	for i, f := range schema.Fields() {
		if err := checkColumn(i, f, "CSV"); err != nil {
			return nil, err
		}
		e.kinds = append(e.kinds, f.Type.ID())
		if i > 0 {
			e.header = append(e.header, e.delim)
		}
		e.header = e.appendString(e.header, f.Name)
	}
	e.header = append(e.header, '\n')
	return e, nil
}

// checkColumn accepts the column types every encoder here supports: the ones
// processors/decode produces.
func checkColumn(i int, f arrow.Field, format string) error {
	switch t := f.Type.(type) {
	case *arrow.StringType, *arrow.Int64Type, *arrow.Float64Type, *arrow.BooleanType:
	case *arrow.TimestampType:
		if t.Unit != arrow.Microsecond {
			return fmt.Errorf("encode: column %d %q: timestamp unit %s, want us", i, f.Name, t.Unit)
		}
	default:
		return fmt.Errorf("encode: column %d %q: type %s is not supported by %s (want utf8, int64, float64, bool, timestamp[us])", i, f.Name, f.Type, format)
	}
	return nil
}

// Schema returns the schema the encoder was built for.
func (e *CSV) Schema() *arrow.Schema { return e.schema }

// Header returns the header line: the column names, quoted as values are,
// and '\n'. The slice is shared: do not modify it.
func (e *CSV) Header() []byte { return e.header }

// AppendRow appends row of rec as one CSV line and a '\n' to dst and returns
// the extended buffer. rec must have the encoder's schema (it panics on a
// column of another type: that is a wiring bug, not bad data).
func (e *CSV) AppendRow(dst []byte, rec arrow.RecordBatch, row int) []byte {
	for i, kind := range e.kinds {
		if i > 0 {
			dst = append(dst, e.delim)
		}
		col := rec.Column(i)
		if col.IsNull(row) {
			dst = append(dst, e.null...)
			continue
		}
		switch kind {
		case arrow.STRING:
			dst = e.appendString(dst, col.(*array.String).Value(row))
		case arrow.INT64:
			dst = strconv.AppendInt(dst, col.(*array.Int64).Value(row), 10)
		case arrow.FLOAT64:
			dst = e.appendFloat(dst, col.(*array.Float64).Value(row))
		case arrow.BOOL:
			dst = strconv.AppendBool(dst, col.(*array.Boolean).Value(row))
		case arrow.TIMESTAMP:
			dst = appendSQLTimestamp(dst, int64(col.(*array.Timestamp).Value(row)))
		}
	}
	return append(dst, '\n')
}

// appendFloat writes f as NDJSON does; NaN and ±Inf, which a numeric column
// of the target cannot hold faithfully everywhere, become null.
func (e *CSV) appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, e.null...)
	}
	return appendFloat(dst, f)
}

// Byte classes for appendString.
const (
	classSpecial  = 1 << iota // forces quoting: delimiter, '"', CR, LF
	classNonASCII             // needs a UTF-8 validity check
)

// appendString writes s as one field, quoted only when needed.
func (e *CSV) appendString(dst []byte, s string) []byte {
	n := len(s)
	var acc byte
	for i := 0; i < n; i++ {
		acc |= e.class[s[i]]
	}
	quote := acc&classSpecial != 0 || n == 0 || s[0] == ' ' || s[0] == '\t' || s[n-1] == ' ' || s[n-1] == '\t' ||
		s == e.null || s == `\.`
	valid := acc&classNonASCII == 0 || utf8.ValidString(s)
	if !quote && valid {
		return append(dst, s...)
	}
	if quote {
		dst = append(dst, '"')
	}
	start := 0 // s[start:i] is pending, copied in one append
	if valid {
		for {
			j := strings.IndexByte(s[start:], '"')
			if j < 0 {
				break
			}
			dst = append(dst, s[start:start+j+1]...)
			dst = append(dst, '"')
			start += j + 1
		}
		dst = append(dst, s[start:]...)
		return append(dst, '"')
	}
	for i := 0; i < n; {
		c := s[i]
		if c == '"' {
			dst = append(dst, s[start:i+1]...)
			dst = append(dst, '"')
			i++
			start = i
			continue
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	if quote {
		dst = append(dst, '"')
	}
	return dst
}

// appendSQLTimestamp writes microseconds since the Unix epoch as UTC
// `YYYY-MM-DD HH:MM:SS[.ffffff]`, the fraction without trailing zeros.
func appendSQLTimestamp(dst []byte, us int64) []byte {
	secs, frac := floorDiv(us, 1e6)
	days, sod := floorDiv(secs, 86400)
	y, m, d := civil(days)
	if y < 0 || y > 9999 {
		// Outside four-digit years: Go's form. processors/decode never
		// produces these.
		return time.UnixMicro(us).UTC().AppendFormat(dst, "2006-01-02 15:04:05.999999")
	}
	dst = appendDateTime(dst, y, m, d, sod, ' ')
	if frac == 0 {
		return dst
	}
	digits := 6
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	dst = append(dst, '.')
	var buf [6]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	return append(dst, buf[:digits]...)
}

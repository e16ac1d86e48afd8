package decode

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// oracle decodes one record the slow, obvious way with encoding/json and
// math/big, independently of the scanner and number code under test, and
// says what Decode must make of it. Only the reason code is predicted.
func oracle(fields []Field, data []byte) outcome {
	if !json.Valid(data) {
		return outcome{reason: ReasonInvalidJSON}
	}
	top := bytes.TrimLeft(data, " \t\r\n")
	if top[0] != '{' {
		return outcome{reason: ReasonNotAnObject}
	}
	row := make([]any, len(fields))
	for i, f := range fields {
		v, code := oracleField(f, json.RawMessage(top))
		if code != "" {
			return outcome{reason: code}
		}
		row[i] = v
	}
	return outcome{row: row}
}

func oracleField(f Field, top json.RawMessage) (any, string) {
	path := f.Path
	if path == "" {
		path = f.Name
	}
	segs := strings.Split(path, ".")
	cur := top
	for k, seg := range segs {
		if k > 0 {
			switch first(cur) {
			case 'n':
				return oracleMissing(f)
			case '{':
			default:
				return nil, ReasonTypeMismatch // an object on the path is not one
			}
		}
		var m map[string]json.RawMessage // duplicate keys: the last wins
		if err := json.Unmarshal(cur, &m); err != nil {
			panic(err)
		}
		v, ok := m[seg]
		if !ok {
			return oracleMissing(f)
		}
		cur = v
	}
	if first(cur) == 'n' {
		return oracleMissing(f)
	}
	return oracleValue(f, cur)
}

func first(raw []byte) byte { return bytes.TrimLeft(raw, " \t\r\n")[0] }

func oracleMissing(f Field) (any, string) {
	if f.Default != nil {
		raw := []byte(*f.Default)
		if f.Type == String || (f.Type == Timestamp && f.Format != "unix" && f.Format != "unix_ms") {
			raw, _ = json.Marshal(*f.Default)
		}
		return oracleValue(f, raw)
	}
	if f.Nullable {
		return nil, ""
	}
	return nil, ReasonMissingField
}

func oracleValue(f Field, raw []byte) (any, string) {
	c := first(raw)
	isNum := c == '-' || ('0' <= c && c <= '9')
	isStr := c == '"'
	switch f.Type {
	case String:
		if !isStr {
			return nil, ReasonTypeMismatch
		}
		if !utf8.Valid(raw) || hasLoneSurrogate(raw) {
			return nil, ReasonInvalidUTF8
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			panic(err)
		}
		return s, ""
	case Int64:
		if !isNum {
			return nil, ReasonTypeMismatch
		}
		r, size := exactNumber(raw)
		switch {
		case size > 0:
			return nil, ReasonOutOfRange
		case size < 0 || !r.IsInt():
			return nil, ReasonTypeMismatch
		}
		if !r.Num().IsInt64() {
			return nil, ReasonOutOfRange
		}
		return r.Num().Int64(), ""
	case Float64:
		if !isNum {
			return nil, ReasonTypeMismatch
		}
		var x float64
		if err := json.Unmarshal(raw, &x); err != nil {
			return nil, ReasonOutOfRange
		}
		return x, ""
	case Bool:
		switch c {
		case 't':
			return true, ""
		case 'f':
			return false, ""
		}
		return nil, ReasonTypeMismatch
	case Timestamp:
		switch f.Format {
		case "unix", "unix_ms":
			if !isNum {
				return nil, ReasonTypeMismatch
			}
			r, size := exactNumber(raw)
			switch {
			case size > 0:
				return nil, ReasonOutOfRange
			case size < 0: // |x| < 1e-10000: floors to 0 or to -1µs
				r = new(big.Rat)
				if raw[0] == '-' {
					r.SetFrac64(-1, 1e6)
				}
			}
			scale := int64(1e6)
			if f.Format == "unix_ms" {
				scale = 1e3
			}
			r.Mul(r, new(big.Rat).SetInt64(scale))
			q := new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: floors for a positive denominator
			if !q.IsInt64() || q.Int64() < minMicros || q.Int64() > maxMicros {
				return nil, ReasonOutOfRange
			}
			return micros(q.Int64()), ""
		}
		if !isStr {
			return nil, ReasonTypeMismatch
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			panic(err)
		}
		layout := f.Format
		if layout == "" || layout == "rfc3339" {
			layout = time.RFC3339Nano
		}
		t, err := time.Parse(layout, s)
		if err != nil {
			return nil, ReasonInvalidTimestamp
		}
		if y := t.UTC().Year(); y < 1 || y > 9999 {
			return nil, ReasonOutOfRange
		}
		return micros(t.UnixMicro()), ""
	}
	panic("unknown type " + f.Type)
}

// hasLoneSurrogate reports a \u escape of half a surrogate pair in a raw JSON
// string, which encoding/json silently turns into U+FFFD.
func hasLoneSurrogate(raw []byte) bool {
	s := string(raw)
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' {
			i++
			continue
		}
		r, _ := strconv.ParseUint(s[i+2:i+6], 16, 32)
		i += 5
		switch {
		case r >= 0xDC00 && r < 0xE000:
			return true
		case r >= 0xD800 && r < 0xDC00:
			if i+7 > len(s) || s[i+1:i+3] != `\u` {
				return true
			}
			r2, _ := strconv.ParseUint(s[i+3:i+7], 16, 32)
			if r2 < 0xDC00 || r2 >= 0xE000 {
				return true
			}
			i += 6
		}
	}
	return false
}

// exactNumber is the exact value of a JSON number literal. big.Rat refuses
// exponents beyond a few million, so magnitudes past 1e±10000 are only
// classified: size +1 for huge, -1 for tiny but non-zero.
func exactNumber(raw []byte) (r *big.Rat, size int) {
	lit := string(raw)
	mant, exp := lit, "0"
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		mant, exp = lit[:i], lit[i+1:]
	}
	m, ok := new(big.Rat).SetString(mant)
	if !ok {
		panic("big.Rat rejects " + lit)
	}
	e, ok := new(big.Int).SetString(strings.TrimPrefix(exp, "+"), 10)
	if !ok {
		panic("bad exponent in " + lit)
	}
	if m.Sign() == 0 {
		return m, 0
	}
	switch {
	case e.Cmp(big.NewInt(10000)) > 0:
		return nil, 1
	case e.Cmp(big.NewInt(-10000)) < 0:
		return nil, -1
	}
	p := new(big.Int).Exp(big.NewInt(10), new(big.Int).Abs(e), nil)
	if e.Sign() >= 0 {
		return m.Mul(m, new(big.Rat).SetInt(p)), 0
	}
	return m.Quo(m, new(big.Rat).SetInt(p)), 0
}

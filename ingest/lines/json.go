package lines

import (
	"encoding/binary"
	"unicode/utf8"
)

// plain[c]: byte c needs no escaping inside a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

const ones, highs = 0x0101010101010101, 0x8080808080808080

// special is non-zero when the word x holds a byte that is not plain: a
// quote, a backslash, a control byte or a byte >= 0x80.
func special(x uint64) uint64 {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return (((q - ones) &^ q) | ((b - ones) &^ b) | ((x - ones*0x20) &^ x) | x) & highs
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json writes it; control characters are escaped.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	// Skip the plain ASCII prefix eight bytes at a time (most values are
	// plain throughout).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if special(binary.LittleEndian.Uint64(s[i:])) != 0 {
			break
		}
	}
	start := 0
	for i < len(s) {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript readers;
		// encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// topLevelValue finds key among the top-level members of the JSON object
// in data and returns its value: a string's contents (unescaped only when
// it has no escapes; with escapes, as written), or a number's or literal's
// text. It reports false when data is not an object it can walk, the key
// is absent, or the value is an object, array or null.
func topLevelValue(data []byte, key string) ([]byte, bool) {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipWS(data, i+1)
	for i < len(data) && data[i] == '"' {
		ks, ke, ok := stringAt(data, i)
		if !ok {
			return nil, false
		}
		i = skipWS(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipWS(data, i+1)
		vs := i
		ve, ok := skipValue(data, i)
		if !ok {
			return nil, false
		}
		if string(data[ks:ke]) == key {
			switch c := data[vs]; {
			case c == '"':
				return data[vs+1 : ve-1], true
			case c == '{' || c == '[' || c == 'n':
				return nil, false
			default:
				return data[vs:ve], true
			}
		}
		i = skipWS(data, ve)
		if i < len(data) && data[i] == ',' {
			i = skipWS(data, i+1)
		}
	}
	return nil, false
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// stringAt returns the contents [start, end) of the string at d[i] == '"'
// (end is the closing quote's offset).
func stringAt(d []byte, i int) (int, int, bool) {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return i + 1, j, true
		}
	}
	return 0, 0, false
}

// skipValue returns the offset after the value at d[i], without checking
// more than brackets and strings.
func skipValue(d []byte, i int) (int, bool) {
	if i >= len(d) {
		return 0, false
	}
	switch d[i] {
	case '"':
		_, e, ok := stringAt(d, i)
		return e + 1, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				_, e, ok := stringAt(d, j)
				if !ok {
					return 0, false
				}
				j = e
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(d) && d[j] != ',' && d[j] != '}' && d[j] != ' ' && d[j] != '\t' && d[j] != '\n' && d[j] != '\r' {
		j++
	}
	return j, j > i
}

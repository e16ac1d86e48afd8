package decode

import (
	"encoding/binary"
	"math/bits"
)

// strPlain[c] is true for bytes that may appear unescaped in a JSON string and
// need no further attention. Bytes >= 0x80 pass: UTF-8 validity is checked
// only for the string values the schema extracts, and only when the scan saw
// such a byte (see str).
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str scans the string at data[i] == '"' and returns the offset after its
// closing quote, whether it contains escapes and whether all its bytes are
// ASCII (so that it is valid UTF-8 without another pass over it).
func (s *scanner) str(i int) (end int, esc, ascii bool) {
	d := s.data
	i++
	var high uint64
	for {
		var h uint64
		i, h = plainRun(d, i)
		high |= h
		if i >= len(d) {
			return s.fail("unterminated string", i), false, false
		}
		switch d[i] {
		case '"':
			return i + 1, esc, high == 0
		case '\\':
			esc = true
			if i+1 >= len(d) {
				return s.fail("unterminated string", i+1), false, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) || hexVal(d[j]) < 0 {
						return s.fail("invalid \\u escape", j), false, false
					}
				}
				i += 6
			default:
				return s.fail("invalid escape", i+1), false, false
			}
		default:
			return s.fail("control character in string", i), false, false
		}
	}
}

// plainRun returns the offset of the first byte at or after i that ends a run
// of plain string bytes (see strPlain), and a non-zero value if the run has
// a byte >= 0x80. String bodies are most of a record, so it tests words of
// eight bytes (see specialBytes) and only the tail byte by byte.
func plainRun(d []byte, i int) (int, uint64) {
	var high uint64
	// Two words per step: the loop's exit branch, not the arithmetic, is
	// most of the cost of short strings.
	for ; i+16 <= len(d); i += 16 {
		w := d[i : i+16]
		x, y := binary.LittleEndian.Uint64(w), binary.LittleEndian.Uint64(w[8:])
		mx, my := specialBytes(x), specialBytes(y)
		if mx|my != 0 {
			if mx == 0 {
				high |= x & highs
				i, x, mx = i+8, y, my
			}
			// The run ends at byte tz/8: only the bytes below it count.
			tz := bits.TrailingZeros64(mx)
			return i + tz/8, high | x&highs&(1<<(tz&^7)-1)
		}
		high |= (x | y) & highs
	}
	if i+8 <= len(d) {
		x := binary.LittleEndian.Uint64(d[i:])
		if m := specialBytes(x); m != 0 {
			tz := bits.TrailingZeros64(m)
			return i + tz/8, high | x&highs&(1<<(tz&^7)-1)
		}
		high |= x & highs
		i += 8
	}
	for i < len(d) && strPlain[d[i]] {
		high |= uint64(d[i] & 0x80)
		i++
	}
	return i, high
}

const ones, highs = 0x0101010101010101, 0x8080808080808080

// specialBytes is non-zero when the word x has a quote, a backslash or a
// control byte, and then its lowest set bit is the high bit of the first
// such byte (bits above it may be false positives).
func specialBytes(x uint64) uint64 {
	q := x ^ (ones * '"')
	b := x ^ (ones * '\\')
	return (((q - ones) &^ q) | ((b - ones) &^ b) | ((x - ones*0x20) &^ x)) & highs
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// number scans a number literal at data[i] ('-' or a digit):
// -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
func (s *scanner) number(i int) int {
	d := s.data
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		i = digits(d, i)
	default:
		return s.fail("want a digit", i)
	}
	if i < len(d) && d[i] == '.' {
		if i++; i >= len(d) || !isDigit(d[i]) {
			return s.fail("want a digit after '.'", i)
		}
		i = digits(d, i)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		if i++; i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			return s.fail("want a digit in the exponent", i)
		}
		i = digits(d, i)
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(d []byte, i int) int {
	for i < len(d) && isDigit(d[i]) {
		i++
	}
	return i
}

func (s *scanner) literal(i int, lit string) int {
	if len(s.data)-i < len(lit) || string(s.data[i:i+len(lit)]) != lit {
		return s.fail("invalid literal", i)
	}
	return i + len(lit)
}

// skipValue validates the value at data[i] without recording anything.
// It is iterative, with an explicit stack of open containers, so that hostile
// nesting costs a byte per level instead of a stack frame; depth is the number
// of containers already open around it.
func (s *scanner) skipValue(i, depth int) int {
	d := s.data
	s.stack = s.stack[:0]
	for {
		// A value starts at d[i].
		if i >= len(d) {
			return s.fail("want a value", i)
		}
		switch c := d[i]; c {
		case '"':
			i, _, _ = s.str(i)
		case '{', '[':
			if depth+len(s.stack)+1 > maxDepth {
				return s.fail("nesting deeper than 10000", i)
			}
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if i = s.ws(i + 1); i < len(d) && d[i] == closer {
				i++
				break
			}
			s.stack = append(s.stack, c)
			if c == '{' {
				i = s.key(i)
			}
			if i < 0 {
				return -1
			}
			continue
		case 't':
			i = s.literal(i, "true")
		case 'f':
			i = s.literal(i, "false")
		case 'n':
			i = s.literal(i, "null")
		default:
			if c != '-' && !isDigit(c) {
				return s.fail("want a value", i)
			}
			i = s.number(i)
		}
		if i < 0 {
			return -1
		}
		// A value ended: close containers until one wants another element.
		for {
			if len(s.stack) == 0 {
				return i
			}
			if i = s.ws(i); i >= len(d) {
				return s.fail("unterminated container", i)
			}
			top := s.stack[len(s.stack)-1]
			if d[i] == ',' {
				i = s.ws(i + 1)
				if top == '{' {
					if i = s.key(i); i < 0 {
						return -1
					}
				}
				break
			}
			if (top == '{' && d[i] == '}') || (top == '[' && d[i] == ']') {
				i++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if top == '{' {
				return s.fail("want ',' or '}'", i)
			}
			return s.fail("want ',' or ']'", i)
		}
	}
}

// key scans `"key" :` and the whitespace after it, inside a skipped object.
func (s *scanner) key(i int) int {
	if i >= len(s.data) || s.data[i] != '"' {
		return s.fail("want a string key", i)
	}
	if i, _, _ = s.str(i); i < 0 {
		return -1
	}
	if i = s.ws(i); i >= len(s.data) || s.data[i] != ':' {
		return s.fail("want ':' after a key", i)
	}
	return s.ws(i + 1)
}

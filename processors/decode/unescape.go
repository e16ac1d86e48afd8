package decode

import "unicode/utf8"

// unescape appends the decoded body of a JSON string that the scanner has
// already validated (so every escape is well formed) to dst. A \u escape that
// encodes half of a surrogate pair without its other half has no UTF-8 form:
// it is written as U+FFFD and reported through lone, so that a string column
// can reject it (it would otherwise silently change the data) while key
// matching simply fails to match.
func unescape(dst, src []byte) (out []byte, lone bool) {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			// Copy the run up to the next escape in one append.
			j := i + 1
			for j < len(src) && src[j] != '\\' {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j
			continue
		}
		switch e := src[i+1]; e {
		case 'u':
			r := hex4(src[i+2:])
			i += 6
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+6 <= len(src) && src[i] == '\\' && src[i+1] == 'u' {
					if r2 := hex4(src[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 6
						dst = utf8.AppendRune(dst, r)
						continue
					}
				}
				r, lone = utf8.RuneError, true
			case r >= 0xDC00 && r < 0xE000:
				r, lone = utf8.RuneError, true
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, unescapeByte[e])
			i += 2
		}
	}
	return dst, lone
}

// unescapeByte maps the character after a backslash to what it stands for.
var unescapeByte = [256]byte{
	'"': '"', '\\': '\\', '/': '/',
	'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

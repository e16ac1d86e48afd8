package lineparse

import "bytes"

// parseCSV splits one RFC 4180 record: fields separated by the delimiter; a
// field that starts with a quote ends at the next lone quote and writes a
// quote as "". A quote inside an unquoted field, anything but a delimiter
// after a closing quote, or a field count other than the columns' is a
// problem. A trailing CR (a CRLF file) is not part of the last field.
func (p *Parser) parseCSV(line []byte) string {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	d := p.delim
	i, field := 0, 0
	for {
		if field == len(p.vals) {
			return "more fields than columns"
		}
		if i < len(line) && line[i] == '"' {
			// Quoted: find the closing quote, unescaping "" on the way.
			start := i + 1
			j := start
			esc := false
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return "unterminated quoted field"
				}
				j += k
				if j+1 < len(line) && line[j+1] == '"' {
					esc = true
					j += 2
					continue
				}
				break
			}
			val := line[start:j]
			if esc {
				off := len(p.scratch)
				for k := 0; k < len(val); k++ {
					p.scratch = append(p.scratch, val[k])
					if val[k] == '"' {
						k++ // the second quote of ""
					}
				}
				val = p.scratch[off:]
			}
			p.set(field, val)
			i = j + 1
			if i < len(line) && line[i] != d {
				return "data after a closing quote"
			}
		} else {
			k := bytes.IndexByte(line[i:], d)
			end := len(line)
			if k >= 0 {
				end = i + k
			}
			val := line[i:end]
			if bytes.IndexByte(val, '"') >= 0 {
				return "quote inside an unquoted field"
			}
			if len(val) > 0 {
				p.set(field, val)
			}
			i = end
		}
		field++
		if i >= len(line) {
			break
		}
		i++ // the delimiter
		if i == len(line) {
			// A trailing delimiter: one more, empty field.
			if field == len(p.vals) {
				return "more fields than columns"
			}
			field++
			break
		}
	}
	if field != len(p.vals) {
		return "fewer fields than columns"
	}
	return ""
}

package lineparse

import "bytes"

// syslogNumbers[pri] is the decimal text of 0..191, so that facility and
// severity can be values without formatting them per line.
var syslogNumbers = func() (t [192][]byte) {
	for i := range t {
		t[i] = []byte(itoa(i))
	}
	return t
}()

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// parseSyslog reads an optional <PRI> and then, when a version follows
// (RFC 5424), `VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`,
// or else RFC 3164's `TIMESTAMP HOSTNAME [TAG[PID]:] MSG` with TIMESTAMP
// either "Mmm dd hh:mm:ss" or an RFC 3339 time (rsyslog's high-precision
// file format).
func (p *Parser) parseSyslog(line []byte) string {
	i := 0
	if len(line) > 0 && line[0] == '<' {
		j := 1
		pri := 0
		for j < len(line) && j <= 4 && isDigit(line[j]) {
			pri = pri*10 + int(line[j]-'0')
			j++
		}
		if j == 1 || j > 4 || j >= len(line) || line[j] != '>' || pri > 191 || (line[1] == '0' && j > 2) {
			return "invalid <priority>"
		}
		p.set(slPriority, line[1:j])
		p.set(slFacility, syslogNumbers[pri/8])
		p.set(slSeverity, syslogNumbers[pri%8])
		i = j + 1
		// RFC 5424: a version (1-999, no leading zero) and a space.
		j = i
		for j < len(line) && j-i < 3 && isDigit(line[j]) {
			j++
		}
		if j > i && line[i] != '0' && j < len(line) && line[j] == ' ' {
			p.set(slVersion, line[i:j])
			return p.parse5424(line, j+1)
		}
	}
	return p.parse3164(line, i)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *Parser) parse5424(line []byte, i int) string {
	var tok []byte
	for _, f := range [5]int{slTime, slHost, slProgram, slPid, slMsgID} {
		if tok, i = token(line, i); tok == nil {
			return "want timestamp, hostname, app-name, procid and msgid separated by spaces"
		}
		p.setDash(f, tok)
		if i >= len(line) || line[i] != ' ' {
			return "want timestamp, hostname, app-name, procid, msgid and structured data separated by spaces"
		}
		i++
	}
	if i >= len(line) {
		return "want structured data or '-'"
	}
	switch line[i] {
	case '-':
		i++
	case '[':
		end, ok := structuredData(line, i)
		if !ok {
			return "malformed structured data"
		}
		p.set(slStructuredData, line[i:end])
		i = end
	default:
		return "want structured data or '-'"
	}
	if i < len(line) {
		if line[i] != ' ' {
			return "want a space after the structured data"
		}
		msg := line[i+1:]
		msg = bytes.TrimPrefix(msg, []byte("\xef\xbb\xbf")) // the BOM RFC 5424 allows
		p.set(slMessage, msg)
	}
	return ""
}

// structuredData returns the end of one or more SD-ELEMENTs starting at
// line[i] == '['. Inside a quoted PARAM-VALUE, \" \\ and \] are escapes.
func structuredData(line []byte, i int) (int, bool) {
	for i < len(line) && line[i] == '[' {
		i++
		quoted := false
		for ; i < len(line); i++ {
			c := line[i]
			if quoted {
				switch c {
				case '\\':
					i++
				case '"':
					quoted = false
				}
				continue
			}
			if c == '"' {
				quoted = true
			} else if c == ']' {
				break
			}
		}
		if i >= len(line) {
			return 0, false
		}
		i++ // ']'
	}
	return i, true
}

func (p *Parser) parse3164(line []byte, i int) string {
	// TIMESTAMP: "Mmm dd hh:mm:ss" (15 bytes, day space-padded) or RFC 3339.
	switch {
	case i+15 <= len(line) && monthIndex(line[i:i+3]) >= 0:
		p.set(slTime, line[i:i+15])
		i += 15
	case i < len(line) && isDigit(line[i]):
		var tok []byte
		tok, i = token(line, i)
		p.set(slTime, tok)
	default:
		return `want a timestamp ("Jan _2 15:04:05" or RFC 3339)`
	}
	if i >= len(line) || line[i] != ' ' {
		return "want a space after the timestamp"
	}
	var host []byte
	if host, i = token(line, i+1); host == nil {
		return "want a hostname after the timestamp"
	}
	p.set(slHost, host)
	if i >= len(line) {
		return ""
	}
	if line[i] != ' ' {
		return "want a space after the hostname"
	}
	i++
	rest := line[i:]
	// TAG: a program name of up to 48 name bytes, an optional [PID] and
	// ':'. Without it, everything after the host is the message.
	j := 0
	for j < len(rest) && j < 48 && tagByte(rest[j]) {
		j++
	}
	if j > 0 && j < len(rest) {
		k := j
		var pid []byte
		if rest[k] == '[' {
			end := bytes.IndexByte(rest[k:], ']')
			if end > 1 {
				pid = rest[k+1 : k+end]
				k += end + 1
			}
		}
		if k < len(rest) && rest[k] == ':' {
			p.set(slProgram, rest[:j])
			if pid != nil {
				p.set(slPid, pid)
			}
			k++
			if k < len(rest) && rest[k] == ' ' {
				k++
			}
			rest = rest[k:]
		}
	}
	p.set(slMessage, rest)
	return ""
}

func tagByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '[' && c != ']' && c != ':'
}

// monthIndex returns 0-11 for "Jan".."Dec" (exactly so capitalised), or -1.
func monthIndex(b []byte) int {
	if len(b) != 3 {
		return -1
	}
	switch uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 0
	case 'F'<<16 | 'e'<<8 | 'b':
		return 1
	case 'M'<<16 | 'a'<<8 | 'r':
		return 2
	case 'A'<<16 | 'p'<<8 | 'r':
		return 3
	case 'M'<<16 | 'a'<<8 | 'y':
		return 4
	case 'J'<<16 | 'u'<<8 | 'n':
		return 5
	case 'J'<<16 | 'u'<<8 | 'l':
		return 6
	case 'A'<<16 | 'u'<<8 | 'g':
		return 7
	case 'S'<<16 | 'e'<<8 | 'p':
		return 8
	case 'O'<<16 | 'c'<<8 | 't':
		return 9
	case 'N'<<16 | 'o'<<8 | 'v':
		return 10
	case 'D'<<16 | 'e'<<8 | 'c':
		return 11
	}
	return -1
}

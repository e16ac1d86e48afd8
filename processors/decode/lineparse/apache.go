package lineparse

import "bytes"

// parseAccess reads `%h %l %u %t "%r" %>s %b` and, when combined, the
// ` "%{Referer}i" "%{User-agent}i"` after it. Fields are separated by one
// space; nothing may follow the last one.
func (p *Parser) parseAccess(line []byte, combined bool) string {
	i := 0
	var tok []byte
	for _, f := range [3]int{acClient, acIdent, acUser} {
		if tok, i = token(line, i); tok == nil {
			return "want client, ident and user separated by spaces"
		}
		if f == acClient {
			p.set(f, tok)
		} else {
			p.setDash(f, tok)
		}
		if i >= len(line) || line[i] != ' ' {
			return "want client, ident and user separated by spaces"
		}
		i++
	}
	if i >= len(line) || line[i] != '[' {
		return "want [time] after the user"
	}
	end := bytes.IndexByte(line[i:], ']')
	if end < 0 {
		return "unterminated [time]"
	}
	p.set(acTime, line[i+1:i+end])
	i += end + 1
	if i+1 >= len(line) || line[i] != ' ' || line[i+1] != '"' {
		return `want "request" after the time`
	}
	var req []byte
	var ok bool
	if req, i, ok = p.quoted(line, i+1); !ok {
		return "unterminated quoted request"
	}
	if !(len(req) == 1 && req[0] == '-') {
		p.set(acRequest, req)
		p.splitRequest(req)
	}
	for _, f := range [2]int{acStatus, acBytes} {
		if i >= len(line) || line[i] != ' ' {
			return "want status and bytes after the request"
		}
		if tok, i = token(line, i+1); tok == nil {
			return "want status and bytes after the request"
		}
		p.setDash(f, tok)
	}
	if combined {
		for _, f := range [2]int{acReferrer, acUserAgent} {
			if i+1 >= len(line) || line[i] != ' ' || line[i+1] != '"' {
				return `want "referrer" "user agent" after the bytes`
			}
			var v []byte
			if v, i, ok = p.quoted(line, i+1); !ok {
				return "unterminated quoted referrer or user agent"
			}
			p.setDash(f, v)
		}
	}
	if i != len(line) {
		if combined {
			return "unexpected data after the user agent"
		}
		return "unexpected data after the bytes"
	}
	return ""
}

// token returns the run of non-space bytes at line[i:] (nil when empty) and
// the offset after it.
func token(line []byte, i int) ([]byte, int) {
	j := i
	for j < len(line) && line[j] != ' ' {
		j++
	}
	if j == i {
		return nil, i
	}
	return line[i:j], j
}

// quoted reads the Apache-quoted string at line[i] == '"': it ends at the
// first quote not preceded by an escaping backslash. \" and \\ are
// unescaped (into the scratch buffer); other escapes are kept.
func (p *Parser) quoted(line []byte, i int) ([]byte, int, bool) {
	start := i + 1
	// Most values have no backslash before their closing quote: two
	// vectorised searches instead of a loop over every byte.
	if q := bytes.IndexByte(line[start:], '"'); q >= 0 && bytes.IndexByte(line[start:start+q], '\\') < 0 {
		return line[start : start+q], start + q + 1, true
	}
	esc := false
	j := start
	for ; j < len(line); j++ {
		c := line[j]
		if c == '\\' && j+1 < len(line) {
			esc = true
			j++
			continue
		}
		if c == '"' {
			break
		}
	}
	if j >= len(line) {
		return nil, 0, false
	}
	v := line[start:j]
	if esc {
		off := len(p.scratch)
		for k := 0; k < len(v); k++ {
			if v[k] == '\\' && k+1 < len(v) && (v[k+1] == '"' || v[k+1] == '\\') {
				k++
			}
			p.scratch = append(p.scratch, v[k])
		}
		v = p.scratch[off:]
	}
	return v, j + 1, true
}

// splitRequest fills method, path and protocol from "METHOD PATH PROTOCOL";
// a request of another shape (garbage from a scanner, HTTP/0.9) leaves them
// absent.
func (p *Parser) splitRequest(req []byte) {
	a := bytes.IndexByte(req, ' ')
	if a <= 0 {
		return
	}
	b := bytes.LastIndexByte(req, ' ')
	if b == a || b == len(req)-1 || !bytes.HasPrefix(req[b+1:], []byte("HTTP/")) {
		return
	}
	p.set(acMethod, req[:a])
	p.set(acPath, req[a+1:b])
	p.set(acProtocol, req[b+1:])
}

// parseError reads an Apache error log line:
//
//	[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1234:tid 5678] [client 10.0.0.1:5678] AH00124: message
//	[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] message
//
// The time and the [module:level] or [level] are required; pid/tid and
// client are optional; the message is the rest.
func (p *Parser) parseError(line []byte) string {
	if len(line) == 0 || line[0] != '[' {
		return "want [time] at the start"
	}
	end := bytes.IndexByte(line, ']')
	if end < 0 {
		return "unterminated [time]"
	}
	p.set(aeTime, line[1:end])
	i := end + 1
	if i+1 >= len(line) || line[i] != ' ' || line[i+1] != '[' {
		return "want [level] or [module:level] after the time"
	}
	i++
	end = bytes.IndexByte(line[i:], ']')
	if end < 0 {
		return "unterminated [level]"
	}
	lv := line[i+1 : i+end]
	if len(lv) == 0 {
		return "empty [level]"
	}
	if c := bytes.IndexByte(lv, ':'); c >= 0 {
		p.set(aeModule, lv[:c])
		p.set(aeLevel, lv[c+1:])
	} else {
		p.set(aeLevel, lv)
	}
	i += end + 1
	if rest, ok := bracket(line, i, "pid "); ok {
		pid := line[i+6 : rest-1]
		if c := bytes.Index(pid, []byte(":tid ")); c >= 0 {
			p.set(aeTid, pid[c+5:])
			pid = pid[:c]
		}
		p.set(aePid, pid)
		i = rest
	}
	if rest, ok := bracket(line, i, "client "); ok {
		p.set(aeClient, line[i+9:rest-1])
		i = rest
	}
	if i < len(line) {
		if line[i] != ' ' {
			return "want a space before the message"
		}
		p.set(aeMessage, line[i+1:])
	}
	return ""
}

// bracket reports whether line[i:] starts with " [" + word and has a
// closing ']', returning the offset after it.
func bracket(line []byte, i int, word string) (int, bool) {
	if i+2+len(word) > len(line) || line[i] != ' ' || line[i+1] != '[' || string(line[i+2:i+2+len(word)]) != word {
		return 0, false
	}
	end := bytes.IndexByte(line[i:], ']')
	if end < 0 {
		return 0, false
	}
	return i + end + 1, true
}

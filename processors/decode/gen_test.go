package decode

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// gen writes random JSON-ish records: mostly well-formed objects whose
// declared paths hold right-typed, wrong-typed, null, missing or edge-case
// values, plus noise keys, duplicates, unicode-heavy strings and whole-record
// corruption. It writes text directly (not via encoding/json) so it can
// produce every escape style and every kind of invalid input.
type gen struct {
	r *rand.Rand
	b []byte
	// clean records (a third) get no injected faults, so that enough rows
	// decode for their values to be compared.
	clean bool
}

// hint is what a key's value "should" be; gen still writes other things.
type hint int

const (
	hString hint = iota
	hInt
	hFloat
	hBool
	hRFC3339
	hUnix
	hDay
	hObject
)

// tree is the shape of records: key → hint, and children for objects.
type tree struct {
	key      string
	hint     hint
	children []tree
}

var recordShape = []tree{
	{key: "event_id", hint: hString},
	{key: "user", hint: hObject, children: []tree{
		{key: "id", hint: hString},
		{key: "profile", hint: hObject, children: []tree{{key: "name", hint: hString}}},
	}},
	{key: "qty", hint: hInt},
	{key: "price", hint: hFloat},
	{key: "ok", hint: hBool},
	{key: "ts", hint: hRFC3339},
	{key: "tsu", hint: hUnix},
	{key: "tsm", hint: hUnix},
	{key: "day", hint: hDay},
	{key: "a", hint: hObject, children: []tree{{key: "b", hint: hObject, children: []tree{{key: "c", hint: hBool}}}}},
}

func (g *gen) p(pct int) bool { return g.r.IntN(100) < pct }

// fault is p for choices that make a record invalid or wrongly typed.
func (g *gen) fault(perMille int) bool { return !g.clean && g.r.IntN(1000) < perMille }

func (g *gen) ws() {
	if g.p(85) {
		return
	}
	for n := g.r.IntN(3); n >= 0; n-- {
		g.b = append(g.b, " \t\r\n"[g.r.IntN(4)])
	}
}

func (g *gen) record() []byte {
	g.b = g.b[:0]
	g.clean = g.p(33)
	switch {
	case g.fault(20):
		return []byte{}
	case g.fault(20):
		g.scalar()
	default:
		g.ws()
		g.object(recordShape, 0)
		g.ws()
	}
	out := append([]byte(nil), g.b...)
	if g.fault(80) {
		out = g.corrupt(out)
	}
	return out
}

func (g *gen) corrupt(b []byte) []byte {
	switch g.r.IntN(4) {
	case 0:
		if len(b) > 0 {
			return b[:g.r.IntN(len(b))]
		}
	case 1:
		return append(b, []string{"x", "}", " {}", ",", "\x00", " null"}[g.r.IntN(6)]...)
	case 2:
		if len(b) > 0 {
			b[g.r.IntN(len(b))] = byte(g.r.IntN(256))
		}
	case 3:
		if len(b) > 0 {
			i := g.r.IntN(len(b))
			return append(b[:i:i], b[i+1:]...)
		}
	}
	return b
}

func (g *gen) object(shape []tree, depth int) {
	g.b = append(g.b, '{')
	g.ws()
	keys := g.r.Perm(len(shape) + g.r.IntN(3))
	n := 0
	for _, k := range keys {
		if k < len(shape) && g.fault(100) {
			continue // missing
		}
		if n > 0 {
			g.b = append(g.b, ',')
			g.ws()
		}
		n++
		if k >= len(shape) {
			g.str(fmt.Sprintf("noise%d", k), false)
			g.ws()
			g.b = append(g.b, ':')
			g.ws()
			g.any(depth + 1)
		} else {
			g.member(shape[k], depth)
			if g.p(3) { // a duplicate key: the last occurrence must win
				g.b = append(g.b, ',')
				g.member(shape[k], depth)
			}
		}
		g.ws()
	}
	g.b = append(g.b, '}')
}

func (g *gen) member(t tree, depth int) {
	g.str(t.key, g.p(5))
	g.ws()
	g.b = append(g.b, ':')
	g.ws()
	switch {
	case g.fault(80):
		g.b = append(g.b, "null"...)
	case g.fault(80):
		g.any(depth + 1) // probably the wrong type
	case t.hint == hObject:
		g.object(t.children, depth+1)
	default:
		g.value(t.hint)
	}
}

func (g *gen) value(h hint) {
	switch h {
	case hString:
		g.str(g.text(), g.p(20))
	case hInt:
		g.b = append(g.b, g.intLit()...)
	case hFloat:
		g.b = append(g.b, g.floatLit()...)
	case hBool:
		g.b = strconv.AppendBool(g.b, g.p(50))
	case hRFC3339:
		g.str(g.rfc3339(), false)
	case hUnix:
		if g.p(50) {
			g.b = append(g.b, g.intLit()...)
		} else {
			g.b = strconv.AppendFloat(g.b, g.r.Float64()*3.2e11-6.2e10, 'f', g.r.IntN(12), 64)
		}
	case hDay:
		g.str(time.Unix(g.r.Int64N(3.2e11)-6.2e10, 0).UTC().Format("2006-01-02"), false)
	}
}

// any writes an arbitrary value, nested up to a few levels.
func (g *gen) any(depth int) {
	k := g.r.IntN(8)
	if depth > 4 && k >= 6 {
		k = 0
	}
	switch k {
	case 0:
		g.scalar()
	case 1:
		g.str(g.text(), g.p(30))
	case 2:
		g.b = append(g.b, g.intLit()...)
	case 3:
		g.b = append(g.b, g.floatLit()...)
	case 4:
		g.b = append(g.b, "true"...)
	case 5:
		g.b = append(g.b, "null"...)
	case 6:
		g.b = append(g.b, '[')
		for i := g.r.IntN(4); i > 0; i-- {
			g.any(depth + 1)
			if i > 1 {
				g.b = append(g.b, ',')
			}
		}
		g.b = append(g.b, ']')
	case 7:
		g.object(recordShape[:g.r.IntN(len(recordShape))], depth+1)
	}
}

func (g *gen) scalar() {
	g.b = append(g.b, []string{`"s"`, `1`, `-2.5e3`, `true`, `false`, `null`, `[]`, `[1,"a",{}]`}[g.r.IntN(8)]...)
}

var runePools = [][]rune{
	[]rune("abcdefghijklmnopqrstuvwxyzABCDEF0123456789 -_/.:"),
	[]rune("\"\\/\b\f\n\r\t\x00\x01\x1f\x7f"),
	[]rune("éüßñøÅ€£¥©®°±µ¶·"),
	[]rune("日本語中文한국어Ελληνικάрусский"),
	[]rune("😀🎉👍🏽🇩🇪𝄞\U0010FFFF"),
	[]rune("\u2028\u2029\uFEFF\uFFFD\u200B\u0300"),
}

func (g *gen) text() string {
	var sb strings.Builder
	for n := g.r.IntN(24); n > 0; n-- {
		pool := runePools[g.r.IntN(len(runePools))]
		sb.WriteRune(pool[g.r.IntN(len(pool))])
	}
	return sb.String()
}

// str writes s as a JSON string; escapeAll writes every rune as \u escapes.
// Now and then it writes something invalid: a raw control character (invalid
// JSON), a raw invalid UTF-8 byte or a lone surrogate escape (invalid Unicode).
func (g *gen) str(s string, escapeAll bool) {
	g.b = append(g.b, '"')
	for _, r := range s {
		switch {
		case escapeAll || r < 0x20 || r == '"' || r == '\\' || (g.p(3) && r > 0x7f):
			g.escape(r)
		default:
			g.b = utf8.AppendRune(g.b, r)
		}
	}
	switch {
	case g.fault(5):
		g.b = append(g.b, "\xff"...)
	case g.fault(5):
		g.b = append(g.b, `\udc00`...)
	case g.fault(5):
		g.b = append(g.b, `\ud83d`...)
	case g.fault(5):
		g.b = append(g.b, '\t')
	}
	g.b = append(g.b, '"')
}

func (g *gen) escape(r rune) {
	switch {
	case r == '"' && g.p(50):
		g.b = append(g.b, `\"`...)
	case r == '\\' && g.p(50):
		g.b = append(g.b, `\\`...)
	case r == '\n' && g.p(50):
		g.b = append(g.b, `\n`...)
	case r == '/' && g.p(50):
		g.b = append(g.b, `\/`...)
	case r > 0xFFFF:
		r -= 0x10000
		g.b = fmt.Appendf(g.b, `\u%04x\u%04X`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
	default:
		g.b = fmt.Appendf(g.b, `\u%04x`, r)
	}
}

func (g *gen) intLit() string {
	switch g.r.IntN(10) {
	case 0:
		return []string{"9223372036854775807", "-9223372036854775808", "9223372036854775808",
			"-9223372036854775809", "123456789012345678901234567890", "0", "-0", "1e18", "1e19"}[g.r.IntN(9)]
	case 1:
		return strconv.FormatInt(g.r.Int64N(1000), 10) + ".0"
	case 2:
		return strconv.FormatInt(g.r.Int64N(1000), 10) + "." + strconv.Itoa(g.r.IntN(100)) // often fractional
	case 3:
		return strconv.Itoa(g.r.IntN(100)) + "e" + strconv.Itoa(g.r.IntN(25))
	case 4:
		return strconv.FormatInt(int64(g.r.Uint64()), 10)
	default:
		return strconv.FormatInt(g.r.Int64N(1e6)-5e5, 10)
	}
}

func (g *gen) floatLit() string {
	switch g.r.IntN(8) {
	case 0:
		return []string{"1e309", "-1e309", "1e-400", "-0.0", "5e-324", "1.7976931348623157e308",
			"0.1", "1E+2", "123456789012345678901234567890.5"}[g.r.IntN(9)]
	case 1:
		return g.intLit()
	default:
		f := (g.r.Float64() - 0.5) * float64(g.r.IntN(1e6))
		return strconv.FormatFloat(f, "fge"[g.r.IntN(3)], -1, 64)
	}
}

func (g *gen) rfc3339() string {
	if g.fault(50) {
		return []string{"0000-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z",
			"2026-13-01T00:00:00Z", "2026-11-22", "2026-11-22T04:50:48", "not a time", ""}[g.r.IntN(8)]
	}
	t := time.Unix(g.r.Int64N(3.2e11)-6.2e10, g.r.Int64N(1e9))
	zone := time.FixedZone("", (g.r.IntN(49)-24)*1800)
	layouts := []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00"}
	return t.In(zone).Format(layouts[g.r.IntN(len(layouts))])
}

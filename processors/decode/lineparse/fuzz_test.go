package lineparse

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// FuzzParse runs every format over arbitrary lines: no panics, every
// present value is a piece of the line or of the scratch buffer, and CSV
// agrees with encoding/csv wherever encoding/csv reads the line as one
// record of the same width.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "-" "ua"`,
		`[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] msg`,
		`<165>1 2003-10-11T22:14:15.003Z h a - ID47 [x a="\]"] msg`, `<34>Oct 11 22:14:15 h su[1]: x`,
		`a,"b ""c""",d`, `"`, `,,`, "\"a\"\"", `[`, `<`, `<1>1 `,
	} {
		f.Add([]byte(s))
	}
	var parsers []*Parser
	for _, o := range []Options{
		{Format: ApacheCommon}, {Format: ApacheCombined}, {Format: ApacheError}, {Format: Syslog},
		{Format: CSV, Columns: []string{"a", "b", "c"}}, {Format: CSV, Delimiter: ';', Columns: []string{"a"}},
		{Format: Regex, Pattern: `^(?P<a>\w+)(?: (?P<b>.*))?$`},
	} {
		parsers = append(parsers, mustNew(f, o))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, p := range parsers {
			vals, problem := p.Parse(line)
			if problem != "" {
				continue
			}
			for i, v := range vals {
				if !v.Present {
					continue
				}
				derived := p.format == Syslog && (i == slFacility || i == slSeverity)
				if !derived && !within(v.B, line) && !within(v.B, p.scratch) {
					t.Fatalf("%s: field %s %q is neither in the line nor in the scratch buffer", p.format, p.fields[i].Name, v.B)
				}
				if p.fields[i].Kind == Time {
					p.Micros(i, v.B)
				}
			}
			if p.format == CSV {
				checkCSVOracle(t, p, line, vals)
			}
		}
	})
}

func within(b, buf []byte) bool {
	if len(b) == 0 {
		return true
	}
	if len(buf) == 0 {
		return false
	}
	for i := range buf {
		if &buf[i] == &b[0] {
			return i+len(b) <= len(buf)
		}
	}
	return false
}

func checkCSVOracle(t *testing.T, p *Parser, line []byte, vals []Value) {
	if bytes.ContainsAny(line, "\r\n") || len(line) == 0 {
		return
	}
	r := csv.NewReader(bytes.NewReader(line))
	r.Comma = rune(p.delim)
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	if err != nil {
		t.Fatalf("we read %q, encoding/csv fails: %v", line, err)
	}
	if len(rec) != len(vals) {
		t.Fatalf("%q: %d fields, encoding/csv %d", line, len(vals), len(rec))
	}
	for i := range rec {
		if string(vals[i].B) != rec[i] {
			t.Fatalf("%q field %d: %q, encoding/csv %q", line, i, vals[i].B, rec[i])
		}
	}
}

// TestCSVAgreesWithEncodingCSV: lines encoding/csv writes are read back to
// the same values, including empty ones, quotes, delimiters and spaces.
func TestCSVAgreesWithEncodingCSV(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", " ", ",", ";", `"`, "é", "\t", "0", "-"}
	for _, delim := range []rune{',', ';', '\t'} {
		p := mustNew(t, Options{Format: CSV, Delimiter: byte(delim), Columns: []string{"a", "b", "c", "d"}})
		for range 5000 {
			rec := make([]string, 4)
			for i := range rec {
				var sb strings.Builder
				for range rng.IntN(6) {
					sb.WriteString(alphabet[rng.IntN(len(alphabet))])
				}
				rec[i] = sb.String()
			}
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			w.Comma = delim
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			line := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			vals, problem := p.Parse(line)
			if problem != "" {
				t.Fatalf("%q: %s", line, problem)
			}
			for i := range rec {
				if string(vals[i].B) != rec[i] {
					t.Fatalf("%q field %d = %q, want %q", line, i, vals[i].B, rec[i])
				}
			}
		}
	}
}

// TestApacheRoundTrip formats random combined-log lines as Apache's
// mod_log_config would (escaping quotes and backslashes) and reads them
// back field by field.
func TestApacheRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	p := mustNew(t, Options{Format: ApacheCombined})
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for range 5000 {
		ts := time.Unix(rng.Int64N(4e9), 0).In(time.FixedZone("", (rng.IntN(49)-24)*1800))
		method, path := pick("GET", "POST", "DELETE"), pick("/", "/a b", `/q?x="1"`, `/back\slash`, "/ü")
		ua, ref := pick("Mozilla/5.0 (X11)", `say "hi"`, "-", `\`), pick("-", "https://example.com/", `x"y`)
		status, size := fmt.Sprint(100+rng.IntN(500)), pick("-", "0", fmt.Sprint(rng.IntN(1e6)))
		line := fmt.Sprintf(`%s - %s [%s] "%s %s HTTP/1.1" %s %s "%s" "%s"`, pick("10.0.0.1", "::1", "host.example"),
			pick("-", "frank"), ts.Format("02/Jan/2006:15:04:05 -0700"), method, esc.Replace(path), status, size, esc.Replace(ref), esc.Replace(ua))
		vals, problem := p.Parse([]byte(line))
		if problem != "" {
			t.Fatalf("%q: %s", line, problem)
		}
		got := fields(p, vals)
		want := map[string]string{"method": method, "path": path, "protocol": "HTTP/1.1", "status": status}
		if size != "-" {
			want["bytes"] = size
		}
		if ref != "-" {
			want["referrer"] = ref
		}
		if ua != "-" {
			want["user_agent"] = ua
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%q: %s = %q, want %q", line, k, got[k], v)
			}
		}
		us, ok := p.Micros(p.Index("time"), vals[p.Index("time")].B)
		if !ok || us != ts.UnixMicro() {
			t.Fatalf("%q: time %d %v, want %d", line, us, ok, ts.UnixMicro())
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		line string
	}{
		{Options{Format: ApacheCombined}, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "-" "say \"hi\""`},
		{Options{Format: ApacheError}, `[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1:tid 2] [client 1.2.3.4:5] msg`},
		{Options{Format: Syslog}, `<165>1 2003-10-11T22:14:15.003Z h a - ID47 [x a="\]"] msg`},
		{Options{Format: Syslog}, `<34>Oct 11 22:14:15 h su[1]: x`},
		{Options{Format: CSV, Columns: []string{"a", "b", "c"}}, `a,"b ""c""",d`},
	} {
		p := mustNew(t, c.o)
		line := []byte(c.line)
		p.Parse(line) // grows the scratch buffer once
		if n := testing.AllocsPerRun(100, func() {
			vals, problem := p.Parse(line)
			if problem != "" {
				t.Fatal(problem)
			}
			for i, v := range vals {
				if v.Present && p.fields[i].Kind == Time {
					if _, ok := p.Micros(i, v.B); !ok {
						t.Fatalf("time %q", v.B)
					}
				}
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per line", c.o.Format, n)
		}
	}
}

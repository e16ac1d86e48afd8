package lineparse

import (
	"strings"
	"testing"
	"time"
)

// fields renders a parse as name=value pairs ("name=<absent>" for absent
// ones) so that tables can spell out every field.
func fields(p *Parser, vals []Value) map[string]string {
	m := map[string]string{}
	for i, f := range p.Fields() {
		if vals[i].Present {
			m[f.Name] = string(vals[i].B)
		}
	}
	return m
}

func mustNew(t testing.TB, o Options) *Parser {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkParse(t *testing.T, p *Parser, line string, want map[string]string) {
	t.Helper()
	vals, problem := p.Parse([]byte(line))
	if problem != "" {
		t.Fatalf("Parse(%q): %s", line, problem)
	}
	got := fields(p, vals)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("Parse(%q)[%s] = %q (present %v), want %q", line, k, g, ok, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("Parse(%q)[%s] = %q, want absent", line, k, v)
		}
	}
}

func TestApacheCombined(t *testing.T) {
	p := mustNew(t, Options{Format: ApacheCombined})
	checkParse(t, p, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
		map[string]string{
			"client": "127.0.0.1", "user": "frank", "time": "10/Oct/2000:13:55:36 -0700",
			"request": "GET /apache_pb.gif HTTP/1.0", "method": "GET", "path": "/apache_pb.gif", "protocol": "HTTP/1.0",
			"status": "200", "bytes": "2326", "referrer": "http://www.example.com/start.html",
			"user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
		})
	// "-" fields are absent; escaped quotes are unescaped; a request of
	// another shape is kept whole without method/path/protocol.
	checkParse(t, p, `2001:db8::1 - - [01/Jan/2026:00:00:00 +0000] "\x16\x03\x01 \"x\"" 400 - "-" "curl/8.5 \"quoted\" \\ end"`,
		map[string]string{
			"client": "2001:db8::1", "time": "01/Jan/2026:00:00:00 +0000", "request": `\x16\x03\x01 "x"`,
			"status": "400", "user_agent": `curl/8.5 "quoted" \ end`,
		})
	checkParse(t, p, `10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "-" 408 0 "-" "-"`,
		map[string]string{"client": "10.0.0.1", "time": "01/Jan/2026:00:00:00 +0000", "status": "408", "bytes": "0"})

	for _, bad := range []string{
		``,
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326`, // common, not combined
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "ua" extra`,
		`127.0.0.1 - frank 10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.0" 200 2326 "-" "-"`,
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.0" 200 2326 "-" "-"`,
		`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0 200 2326 "-" "-`,
		`127.0.0.1  - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "-"`,
		`{"not":"a log line"}`,
	} {
		if _, problem := p.Parse([]byte(bad)); problem == "" {
			t.Errorf("Parse(%q) succeeded, want a problem", bad)
		}
	}
}

func TestApacheCommon(t *testing.T) {
	p := mustNew(t, Options{Format: ApacheCommon})
	checkParse(t, p, `127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326`,
		map[string]string{
			"client": "127.0.0.1", "ident": "user-identifier", "user": "frank", "time": "10/Oct/2000:13:55:36 -0700",
			"request": "GET /apache_pb.gif HTTP/1.0", "method": "GET", "path": "/apache_pb.gif", "protocol": "HTTP/1.0",
			"status": "200", "bytes": "2326",
		})
	if _, problem := p.Parse([]byte(`127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "-"`)); problem == "" {
		t.Error("a combined line parsed as common")
	}
}

func TestApacheError(t *testing.T) {
	p := mustNew(t, Options{Format: ApacheError})
	checkParse(t, p, `[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1234:tid 140234] [client 10.0.0.1:51234] AH00124: Request exceeded the limit of 10 internal redirects`,
		map[string]string{
			"time": "Wed Oct 11 14:32:52.123456 2000", "module": "core", "level": "error", "pid": "1234", "tid": "140234",
			"client": "10.0.0.1:51234", "message": "AH00124: Request exceeded the limit of 10 internal redirects",
		})
	checkParse(t, p, `[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test`,
		map[string]string{
			"time": "Wed Oct 11 14:32:52 2000", "level": "error", "client": "127.0.0.1",
			"message": "client denied by server configuration: /export/home/live/ap/htdocs/test",
		})
	checkParse(t, p, `[Sun Mar 01 00:00:01.000001 2026] [mpm_event:notice] [pid 7] AH00489: Apache/2.4.62 configured`,
		map[string]string{"time": "Sun Mar 01 00:00:01.000001 2026", "module": "mpm_event", "level": "notice", "pid": "7",
			"message": "AH00489: Apache/2.4.62 configured"})
	for _, bad := range []string{``, `Wed Oct 11 14:32:52 2000 [error] x`, `[Wed Oct 11 14:32:52 2000] error x`, `[Wed Oct 11 14:32:52 2000] []`, `[Wed Oct 11`} {
		if _, problem := p.Parse([]byte(bad)); problem == "" {
			t.Errorf("Parse(%q) succeeded, want a problem", bad)
		}
	}
}

func TestSyslog(t *testing.T) {
	p := mustNew(t, Options{Format: Syslog})
	// RFC 5424's own examples (section 6.5).
	checkParse(t, p, `<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed for lonvick on /dev/pts/8`,
		map[string]string{"priority": "34", "facility": "4", "severity": "2", "version": "1", "time": "2003-10-11T22:14:15.003Z",
			"host": "mymachine.example.com", "program": "su", "msgid": "ID47", "message": "BOM'su root' failed for lonvick on /dev/pts/8"})
	checkParse(t, p, `<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`,
		map[string]string{"priority": "165", "facility": "20", "severity": "5", "version": "1", "time": "2003-08-24T05:14:15.000003-07:00",
			"host": "192.0.2.1", "program": "myproc", "pid": "8710", "message": "%% It's time to make the do-nuts."})
	checkParse(t, p, `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`,
		map[string]string{"priority": "165", "facility": "20", "severity": "5", "version": "1", "time": "2003-10-11T22:14:15.003Z",
			"host": "mymachine.example.com", "program": "evntslog", "msgid": "ID47",
			"structured_data": `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]`})
	checkParse(t, p, "<13>1 - - - - - [a x=\"q\\]\\\"\"] \xef\xbb\xbfhello",
		map[string]string{"priority": "13", "facility": "1", "severity": "5", "version": "1",
			"structured_data": `[a x="q\]\""]`, "message": "hello"})
	// RFC 3164's examples, with and without the priority.
	checkParse(t, p, `<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`,
		map[string]string{"priority": "34", "facility": "4", "severity": "2", "time": "Oct 11 22:14:15", "host": "mymachine",
			"program": "su", "message": "'su root' failed for lonvick on /dev/pts/8"})
	checkParse(t, p, `Feb  5 17:32:18 10.0.0.99 sshd[4123]: Accepted publickey for ops from 10.0.0.7 port 52222 ssh2`,
		map[string]string{"time": "Feb  5 17:32:18", "host": "10.0.0.99", "program": "sshd", "pid": "4123",
			"message": "Accepted publickey for ops from 10.0.0.7 port 52222 ssh2"})
	checkParse(t, p, `2026-01-02T03:04:05.123456+00:00 web-1 kernel: [ 12.345] eth0: link up`,
		map[string]string{"time": "2026-01-02T03:04:05.123456+00:00", "host": "web-1", "program": "kernel", "message": "[ 12.345] eth0: link up"})
	checkParse(t, p, `Oct  1 01:02:03 host just a message without a tag`,
		map[string]string{"time": "Oct  1 01:02:03", "host": "host", "message": "just a message without a tag"})
	for _, bad := range []string{``, `<192>Oct 11 22:14:15 h x: y`, `<>Oct 11 22:14:15 h`, `<34`, `hello world`,
		`<34>1 2003-10-11T22:14:15.003Z host`, `<34>1 - - - - - [unterminated`, `<34>1 - - - - - x`, `<034>Oct 11 22:14:15 h x`} {
		if _, problem := p.Parse([]byte(bad)); problem == "" {
			t.Errorf("Parse(%q) succeeded, want a problem", bad)
		}
	}
}

func TestCSV(t *testing.T) {
	p := mustNew(t, Options{Format: CSV, Columns: []string{"a", "b", "c"}})
	checkParse(t, p, `1,two,3`, map[string]string{"a": "1", "b": "two", "c": "3"})
	checkParse(t, p, `"x, y","say ""hi""",""`, map[string]string{"a": "x, y", "b": `say "hi"`, "c": ""})
	checkParse(t, p, ",,\r", map[string]string{})
	checkParse(t, p, `a,,`, map[string]string{"a": "a"})
	for _, bad := range []string{`1,2`, `1,2,3,4`, `1,2,3,`, `"1,2,3`, `"1"x,2,3`, `1,b"c,3`, ``} {
		if _, problem := p.Parse([]byte(bad)); problem == "" {
			t.Errorf("Parse(%q) succeeded, want a problem", bad)
		}
	}
	tab := mustNew(t, Options{Format: CSV, Delimiter: '\t', Columns: []string{"k", "v"}})
	checkParse(t, tab, "key\tvalue, with comma", map[string]string{"k": "key", "v": "value, with comma"})
	one := mustNew(t, Options{Format: CSV, Columns: []string{"only"}})
	checkParse(t, one, ``, map[string]string{})
	if _, err := New(Options{Format: CSV, Delimiter: '"', Columns: []string{"a"}}); err == nil {
		t.Error("quote delimiter accepted")
	}
	if _, err := New(Options{Format: CSV, Columns: []string{"a", "a"}}); err == nil {
		t.Error("duplicate columns accepted")
	}
}

func TestRegex(t *testing.T) {
	p := mustNew(t, Options{Format: Regex, Pattern: `^(?P<level>[A-Z]+) (?P<code>\d+)(?: (?P<msg>.*))?$`})
	checkParse(t, p, `WARN 42 disk almost full`, map[string]string{"level": "WARN", "code": "42", "msg": "disk almost full"})
	checkParse(t, p, `INFO 7`, map[string]string{"level": "INFO", "code": "7"})
	if _, problem := p.Parse([]byte(`warn x`)); problem == "" {
		t.Error("non-matching line parsed")
	}
	for _, pat := range []string{``, `(`, `(\d+)`, `(?P<a>x)(?P<a>y)`} {
		if _, err := New(Options{Format: Regex, Pattern: pat}); err == nil {
			t.Errorf("pattern %q accepted", pat)
		}
	}
	if _, err := New(Options{Format: "nginx"}); err == nil || !strings.Contains(err.Error(), "apache_combined") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestMicros(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC) }
	access := mustNew(t, Options{Format: ApacheCombined})
	errlog := mustNew(t, Options{Format: ApacheError, Location: berlin})
	sys := mustNew(t, Options{Format: Syslog, Now: now})
	sysBerlin := mustNew(t, Options{Format: Syslog, Now: now, Location: berlin})
	cases := []struct {
		p    *Parser
		text string
		want time.Time
	}{
		{access, "10/Oct/2000:13:55:36 -0700", time.Date(2000, 10, 10, 20, 55, 36, 0, time.UTC)},
		{access, "29/Feb/2024:23:59:59 +0530", time.Date(2024, 2, 29, 18, 29, 59, 0, time.UTC)},
		{errlog, "Wed Oct 11 14:32:52.123456 2000", time.Date(2000, 10, 11, 12, 32, 52, 123456000, time.UTC)},
		{errlog, "Wed Jan  3 14:32:52 2001", time.Date(2001, 1, 3, 13, 32, 52, 0, time.UTC)},
		{sys, "2003-10-11T22:14:15.003Z", time.Date(2003, 10, 11, 22, 14, 15, 3000000, time.UTC)},
		{sys, "2003-08-24T05:14:15.000003987-07:00", time.Date(2003, 8, 24, 12, 14, 15, 3000, time.UTC)},
		{sys, "Jan 10 11:00:00", time.Date(2026, 1, 10, 11, 0, 0, 0, time.UTC)},
		{sys, "Jan 11 11:00:00", time.Date(2026, 1, 11, 11, 0, 0, 0, time.UTC)}, // up to a day ahead: this year
		{sys, "Dec 31 23:59:59", time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
		{sys, "Feb 29 10:00:00", time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC)},
		{sysBerlin, "Jan  5 10:00:00", time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		idx := c.p.Index("time")
		got, ok := c.p.Micros(idx, []byte(c.text))
		if !ok || got != c.want.UnixMicro() {
			t.Errorf("%s Micros(%q) = %v %v, want %v", c.p.Format(), c.text, time.UnixMicro(got).UTC(), ok, c.want)
		}
	}
	for _, c := range []struct {
		p    *Parser
		text string
	}{
		{access, "10/Oct/2000:13:55:36"}, {access, "31/Feb/2000:13:55:36 -0700"}, {access, "10/Okt/2000:13:55:36 -0700"},
		{access, "10/Oct/2000:24:00:00 +0000"}, {errlog, "Wed Oct 11 14:32:52.1234567890 2000"}, {errlog, "Wed Oct 11 14:32 2000"},
		{sys, "2003-10-11T22:14:15"}, {sys, "2003-10-11 22:14:15Z"}, {sys, "Oct 32 22:14:15"}, {sys, "Oct 11 22:14:60"},
	} {
		if got, ok := c.p.Micros(c.p.Index("time"), []byte(c.text)); ok {
			t.Errorf("%s Micros(%q) = %v, want failure", c.p.Format(), c.text, time.UnixMicro(got).UTC())
		}
	}
	if _, ok := access.Micros(access.Index("status"), []byte("200")); ok {
		t.Error("Micros of a non-time field succeeded")
	}
}

// TestRFC3339MatchesTime checks RFC3339Micros against time.Parse on a grid of
// valid and invalid inputs.
func TestRFC3339MatchesTime(t *testing.T) {
	inputs := []string{
		"2026-11-22T04:50:48Z", "2026-11-22T04:50:48.1Z", "2026-11-22T04:50:48.123456789Z", "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999Z", "2024-02-29T12:00:00+14:00", "2023-02-29T12:00:00Z", "2026-13-01T00:00:00Z",
		"2026-11-22T04:50:48.Z", "2026-11-22T04:50:48+0100", "2026-11-22T04:50:48-23:59", "1969-12-31T23:59:59.9999995Z",
	}
	for _, in := range inputs {
		tm, err := time.Parse(time.RFC3339Nano, in)
		got, ok := RFC3339Micros([]byte(in))
		if (err == nil) != ok {
			t.Errorf("%q: ok %v, time.Parse err %v", in, ok, err)
			continue
		}
		if ok && got != tm.UnixMicro() {
			t.Errorf("%q: %d, want %d", in, got, tm.UnixMicro())
		}
	}
}

func TestAppendRFC3339MatchesTime(t *testing.T) {
	for _, us := range []int64{0, 1, -1, 999999, 1_000_000, 1763787048123456, 1763787048100000, -62135596800 * 1e6,
		253402300800*1e6 - 1, 951782400 * 1e6, -2208988800123457, 253402300800 * 1e6, -62135596800*1e6 - 1} {
		want := time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
		if got := string(AppendRFC3339(nil, us)); got != want {
			t.Errorf("%d: %s, want %s", us, got, want)
		}
	}
	for i := int64(0); i < 200000; i++ {
		us := i*7_777_777_777_77 - 6e16
		want := time.UnixMicro(us).UTC().Format(time.RFC3339Nano)
		if got := string(AppendRFC3339(nil, us)); got != want {
			t.Fatalf("%d: %s, want %s", us, got, want)
		}
	}
}

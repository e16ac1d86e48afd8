package lines

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/processors/decode/lineparse"
)

// collect is a Sink that keeps everything, checking that positions only
// move forward.
type collect struct {
	t       testing.TB
	records []Record
	dead    []string
	skipped []string
	last    state.Position
}

func (c *collect) check(pos state.Position) {
	if pos.Offset < c.last.Offset || pos.Lines < c.last.Lines {
		c.t.Fatalf("position went back from %+v to %+v", c.last, pos)
	}
	c.last = pos
}

func (c *collect) Record(r Record) error {
	c.check(r.Pos)
	r.Data, r.Key = bytes.Clone(r.Data), bytes.Clone(r.Key)
	c.records = append(c.records, r)
	return nil
}

func (c *collect) Dead(reason string, data []byte, offset int64, pos state.Position) error {
	c.check(pos)
	c.dead = append(c.dead, reason+" | "+string(data))
	return nil
}

func (c *collect) Skip(why string, pos state.Position) {
	c.check(pos)
	c.skipped = append(c.skipped, why)
}

func (c *collect) data() []string {
	var out []string
	for _, r := range c.records {
		out = append(out, string(r.Data))
	}
	return out
}

// feed splits text into lines the way the reader does and processes them.
func feed(t testing.TB, p *Processor, src *Source, text string) *collect {
	t.Helper()
	c := &collect{t: t}
	now := time.Unix(0, 0)
	off := int64(0)
	for n, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		line := Line{Data: []byte(strings.TrimSuffix(l, "\n")), Offset: off, End: off + int64(len(l)), Number: int64(n + 1)}
		off += int64(len(l))
		if err := p.Line(src, line, c, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(src, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNew(t testing.TB, o Options) *Processor {
	t.Helper()
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 1 << 20
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func equal(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestPlainLinesSkipsHeadersAndEmptyLines(t *testing.T) {
	p := mustNew(t, Options{SkipHeaderLines: 2, SingleLine: true})
	c := feed(t, p, &Source{}, "# header\n# columns\n  one  \n\ntwo\n\t\nthree")
	equal(t, c.data(), "one", "two", "three")
	equal(t, c.skipped, SkipHeader, SkipHeader, SkipEmpty, SkipEmpty)
	if c.last != (state.Position{Offset: 39, Lines: 7}) {
		t.Errorf("last position %+v", c.last)
	}
	if r := c.records[1]; r.Offset != 28 || r.Pos != (state.Position{Offset: 32, Lines: 5}) {
		t.Errorf("record 2 at %d, %+v", r.Offset, r.Pos)
	}
}

func TestMultiline(t *testing.T) {
	p := mustNew(t, Options{Multiline: &Multiline{StartPattern: `^\d{4}-`, MaxLines: 3}})
	text := "orphan line\n2026-01-01 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)\n" +
		"2026-01-01 INFO ok\n2026-01-02 WARN long\n 1\n 2\n 3\n 4\n"
	c := feed(t, p, &Source{}, text)
	equal(t, c.data(), "orphan line", "2026-01-01 ERROR boom\n  at a.b(C.java:1)\n  at d.e(F.java:2)", "2026-01-01 INFO ok",
		"2026-01-02 WARN long\n 1\n 2", " 3\n 4")
	if c.records[1].Lines != 3 || c.records[1].Pos.Lines != 4 {
		t.Errorf("multi-line record %+v", c.records[1])
	}

	// SingleLine joins the trimmed lines; a timeout emits a waiting record.
	p = mustNew(t, Options{Multiline: &Multiline{StartPattern: `^\S`, Timeout: time.Second}, SingleLine: true})
	src := &Source{}
	out := &collect{t: t}
	t0 := time.Unix(100, 0)
	p.Line(src, Line{Data: []byte("Exception in main"), End: 18, Number: 1}, out, t0)
	p.Line(src, Line{Data: []byte("    at x"), Offset: 18, End: 27, Number: 2}, out, t0)
	p.FlushIdle(src, t0.Add(999*time.Millisecond), out)
	if len(out.records) != 0 || !p.Pending(src) {
		t.Fatal("flushed before the timeout")
	}
	p.FlushIdle(src, t0.Add(time.Second), out)
	equal(t, out.data(), "Exception in main at x")
}

func TestConvertApacheToJSON(t *testing.T) {
	p := mustNew(t, Options{Convert: &Convert{Format: lineparse.ApacheCombined}, KeyMode: KeyField, KeyField: "client"})
	c := feed(t, p, &Source{}, `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`+"\n"+
		`10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 304 - "-" "a \"quoted\" agent"`+"\nnot a log line\n"+
		`10.0.0.2 - - [10/Oct/2000:25:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-"`+"\n")
	equal(t, c.data(),
		`{"client":"127.0.0.1","ident":null,"user":"frank","time":"2000-10-10T20:55:36Z","request":"GET /apache_pb.gif HTTP/1.0","method":"GET","path":"/apache_pb.gif","protocol":"HTTP/1.0","status":200,"bytes":2326,"referrer":"http://www.example.com/start.html","user_agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"}`,
		`{"client":"10.0.0.1","ident":null,"user":null,"time":"2000-10-10T20:55:36Z","request":"GET / HTTP/1.0","method":"GET","path":"/","protocol":"HTTP/1.0","status":304,"bytes":null,"referrer":null,"user_agent":"a \"quoted\" agent"}`)
	if string(c.records[0].Key) != "127.0.0.1" || string(c.records[1].Key) != "10.0.0.1" {
		t.Errorf("keys %q %q", c.records[0].Key, c.records[1].Key)
	}
	equal(t, c.dead, `convert_failed: apache_combined: want [time] after the user | not a log line`,
		`convert_failed: apache_combined: field time: "10/Oct/2000:25:55:36 -0700" is not in the apache_combined timestamp layout | 10.0.0.2 - - [10/Oct/2000:25:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-"`)
	for _, d := range c.data() {
		if !json.Valid([]byte(d)) {
			t.Errorf("invalid JSON %s", d)
		}
	}
}

func TestConvertSyslogAndRenames(t *testing.T) {
	p := mustNew(t, Options{Convert: &Convert{Format: lineparse.Syslog,
		FieldNames: []string{"pri", "fac", "sev", "ver", "timestamp", "hostname", "program", "processid", "msgid", "sd", "message"}}})
	c := feed(t, p, &Source{}, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 - An event\n")
	equal(t, c.data(), `{"pri":165,"fac":20,"sev":5,"ver":1,"timestamp":"2003-10-11T22:14:15.003Z","hostname":"mymachine.example.com","program":"evntslog","processid":null,"msgid":"ID47","sd":null,"message":"An event"}`)
	if _, err := New(Options{MaxRecordBytes: 1, Convert: &Convert{Format: lineparse.Syslog, FieldNames: []string{"a"}}}); err == nil {
		t.Error("a wrong number of field names was accepted")
	}
}

func TestConvertCSV(t *testing.T) {
	p := mustNew(t, Options{Convert: &Convert{Format: lineparse.CSV, Columns: []string{"id", "qty", "note"}, Numbers: true}})
	c := feed(t, p, &Source{}, "a,3,\"x, \"\"y\"\"\"\nb,03,1e5\nc,1\n")
	equal(t, c.data(), `{"id":"a","qty":3,"note":"x, \"y\""}`, `{"id":"b","qty":"03","note":1e5}`)
	equal(t, c.dead, "convert_failed: csv: fewer fields than columns | c,1")

	// The header of each source names its columns.
	p = mustNew(t, Options{Convert: &Convert{Format: lineparse.CSV, Delimiter: ';', Header: true}, KeyMode: KeyField, KeyField: "user"})
	c = feed(t, p, &Source{Name: "a.csv"}, "user;\"page;x\"\nu1;/a\nu2;/b\n")
	equal(t, c.data(), `{"user":"u1","page;x":"/a"}`, `{"user":"u2","page;x":"/b"}`)
	equal(t, c.skipped, SkipHeader)
	if string(c.records[1].Key) != "u2" {
		t.Errorf("key %q", c.records[1].Key)
	}
	c = feed(t, p, &Source{Name: "b.csv"}, "page;\"page;x\";user\n/c;z;u3\n")
	equal(t, c.data(), `{"page":"/c","page;x":"z","user":"u3"}`)
}

func TestMetadataAndKeys(t *testing.T) {
	p := mustNew(t, Options{Metadata: Metadata{Host: "host", File: "file", Offset: "offset"}, Hostname: "web-1", KeyMode: KeyField, KeyField: "user"})
	c := feed(t, p, &Source{Name: "/var/log/app.log"}, `{"user":"u-1","n":1}`+"\n"+`plain "text"`+"\n{}\n"+`{"user":{"id":1}}`+"\n{broken\n")
	equal(t, c.data(),
		`{"user":"u-1","n":1,"host":"web-1","file":"/var/log/app.log","offset":0}`,
		`{"message":"plain \"text\"","host":"web-1","file":"/var/log/app.log","offset":21}`,
		`{"host":"web-1","file":"/var/log/app.log","offset":34}`,
		`{"user":{"id":1},"host":"web-1","file":"/var/log/app.log","offset":37}`,
		`{"message":"{broken","host":"web-1","file":"/var/log/app.log","offset":55}`)
	if string(c.records[0].Key) != "u-1" || c.records[1].Key != nil || c.records[3].Key != nil {
		t.Errorf("keys %q", [][]byte{c.records[0].Key, c.records[1].Key, c.records[3].Key})
	}
	for _, d := range c.data() {
		if !json.Valid([]byte(d)) {
			t.Errorf("invalid JSON %s", d)
		}
	}
	h := mustNew(t, Options{KeyMode: KeyLineHash})
	c = feed(t, h, &Source{}, "same\nother\nsame\n")
	if k := c.records; string(k[0].Key) != string(k[2].Key) || string(k[0].Key) == string(k[1].Key) || len(k[0].Key) == 0 {
		t.Errorf("line hash keys %q %q %q", k[0].Key, k[1].Key, k[2].Key)
	}
}

func TestRecordTooLargeAndTruncatedLines(t *testing.T) {
	p := mustNew(t, Options{MaxRecordBytes: 10})
	c := &collect{t: t}
	p.Line(&Source{}, Line{Data: []byte("0123456789"), End: 11, Number: 1}, c, time.Time{})
	p.Line(&Source{}, Line{Data: []byte("0123456789A"), Offset: 11, End: 23, Number: 2}, c, time.Time{})
	p.Line(&Source{}, Line{Data: []byte("012"), Offset: 23, End: 2000, Number: 3, Truncated: true}, c, time.Time{})
	equal(t, c.data(), "0123456789")
	equal(t, c.dead, "record_too_large: 11 bytes, the limit is 10 | 0123456789A",
		"line_too_long: the line is longer than max_line_bytes; its start is kept | 012")
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ slash/", "\x00\x01\x1f\t\n\r", "é€😀", "bad\xffutf8\xc3", "\u2028\u2029", "<&>"} {
		got := appendString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if !utf8.ValidString(s) {
			// encoding/json replaces each invalid byte.
			want = string(bytes.ToValidUTF8([]byte(s), []byte("\ufffd")))
			var sb strings.Builder
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				sb.WriteRune(r)
				i += n
			}
			want = sb.String()
		}
		if back != want {
			t.Errorf("%q → %s → %q, want %q", s, got, back, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add([]byte("a\"b\\c\x00\xff\u2028"))
	f.Fuzz(func(t *testing.T, s []byte) {
		out := appendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, out, err)
		}
		if utf8.Valid(s) && back != string(s) {
			t.Fatalf("%q → %q", s, back)
		}
	})
}

// FuzzTopLevelValue compares topLevelValue with encoding/json on valid
// objects: a string or number found must be the member's value.
func FuzzTopLevelValue(f *testing.F) {
	for _, s := range []string{`{"user":"u","x":1}`, `{"a":{"user":"nested"},"user":7}`, `{"user":null}`, `{"u\"ser":"x","user":"y"}`, `{}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := topLevelValue(data, "user")
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil || bytes.Contains(data, []byte(`\`)) {
			return // only valid objects without escapes have one right answer
		}
		if bytes.Count(data, []byte(`"user"`)) > 1 {
			return // duplicate keys: encoding/json keeps the last, we the first
		}
		raw, has := m["user"]
		if !has || raw[0] == '{' || raw[0] == '[' || string(raw) == "null" {
			if ok {
				t.Fatalf("%s: found %q", data, v)
			}
			return
		}
		want := string(raw)
		if raw[0] == '"' {
			want = want[1 : len(want)-1]
		}
		if !ok || string(v) != want {
			t.Fatalf("%s: %q %v, want %q", data, v, ok, want)
		}
	})
}

func TestProcessorDoesNotAllocate(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		line string
	}{
		{"single-line", Options{SingleLine: true}, `  2026-11-22T04:50:48Z INFO request served in 12ms path=/products/42  `},
		{"apache-json", Options{Convert: &Convert{Format: lineparse.ApacheCombined}, KeyMode: KeyLineHash},
			`10.1.2.3 - - [22/Nov/2026:04:50:48 +0000] "GET /products/42 HTTP/1.1" 200 5120 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)"`},
		{"metadata", Options{Metadata: Metadata{Host: "h", File: "f", Offset: "o"}, KeyMode: KeyField, KeyField: "u"}, `{"u":"x","n":1}`},
	}
	for _, c := range cases {
		p := mustNew(t, c.o)
		src := &Source{Name: "/var/log/x"}
		sink := &countSink{}
		line := Line{Data: []byte(c.line), End: int64(len(c.line) + 1), Number: 1}
		p.Line(src, line, sink, time.Time{})
		if n := testing.AllocsPerRun(200, func() {
			line.Number++
			if err := p.Line(src, line, sink, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}); n != 0 || sink.dead > 0 {
			t.Errorf("%s: %v allocations per line, %d dead", c.name, n, sink.dead)
		}
	}
}

type countSink struct{ records, dead, bytes int }

func (c *countSink) Record(r Record) error { c.records++; c.bytes += len(r.Data); return nil }
func (c *countSink) Dead(string, []byte, int64, state.Position) error {
	c.dead++
	return nil
}
func (c *countSink) Skip(string, state.Position) {}

func BenchmarkProcessor(b *testing.B) {
	single := `2026-11-22T04:50:48.123Z INFO checkout order=o-%d user=u-%d total=%d.99 items=3 latency_ms=12 path=/api/checkout`
	apache := `10.1.%d.%d - - [22/Nov/2026:04:50:48 +0000] "GET /products/%d HTTP/1.1" 200 %d "https://shop.example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"`
	for _, c := range []struct {
		name string
		o    Options
		line func(int) string
	}{
		{"single-line", Options{SingleLine: true}, func(i int) string { return fmt.Sprintf(single, i, i%5000, i%100) }},
		{"apache-to-json", Options{Convert: &Convert{Format: lineparse.ApacheCombined}}, func(i int) string {
			return fmt.Sprintf(apache, i%256, i/256%256, i%1000, 1000+i)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := mustNew(b, c.o)
			lines := make([]Line, 1024)
			var size int
			for i := range lines {
				d := c.line(i)
				lines[i] = Line{Data: []byte(d), Number: int64(i + 1)}
				size += len(d) + 1
			}
			src := &Source{}
			sink := &countSink{}
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				p.Line(src, lines[i%len(lines)], sink, time.Time{})
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// TestCSVHeaderAfterResume: reading resumed past the header line (after a
// restart) reads the header again through Source.ReadLine; an unusable
// header dead-letters the lines of its source, not the agent.
func TestCSVHeaderAfterResume(t *testing.T) {
	p := mustNew(t, Options{SkipHeaderLines: 1, Convert: &Convert{Format: lineparse.CSV, Header: true}})
	asked := int64(0)
	src := &Source{Name: "f.csv", ReadLine: func(n int64) ([]byte, error) { asked = n; return []byte("id,qty"), nil }}
	c := &collect{t: t}
	if err := p.Line(src, Line{Data: []byte("a,1"), Offset: 100, End: 104, Number: 7}, c, time.Time{}); err != nil {
		t.Fatal(err)
	}
	equal(t, c.data(), `{"id":"a","qty":"1"}`)
	if asked != 2 {
		t.Errorf("asked for line %d, want the header's, 2", asked)
	}
	bad := feed(t, p, &Source{Name: "g.csv"}, "# comment\nid,id\n1,2\n3,4\n")
	equal(t, bad.data())
	equal(t, bad.dead, `convert_failed: csv header: column 2: empty or duplicate name "id" | id,id`,
		`convert_failed: csv: the header line is unusable (column 2: empty or duplicate name "id") | 1,2`,
		`convert_failed: csv: the header line is unusable (column 2: empty or duplicate name "id") | 3,4`)
}

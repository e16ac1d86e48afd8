package decode

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
)

// formatResult is what became of a batch of multi-row records.
type formatResult struct {
	rows    [][]any // cells per row, in order
	origins []string
	dead    []flow.DeadLetter
	skipped map[string]int
}

// decodeFormat decodes records as one batch and checks the invariants every
// format keeps: every row has an origin that is one of the records (in
// order), dead letters carry a known reason and their record's provenance,
// and the allocator is clean once the batch is released.
func decodeFormat(t testing.TB, d *Decoder, records ...[]byte) formatResult {
	t.Helper()
	recs := make([]flow.SourceRecord, len(records))
	arrival := time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC)
	for i, r := range records {
		recs[i] = flow.SourceRecord{Data: r, SequenceNumber: strconv.Itoa(i), SubSequence: int64(i % 2), ArrivalTime: arrival.Add(time.Duration(i))}
	}
	b, dead := d.Decode("shard-7", recs)
	defer b.Record.Release()
	if int(b.Record.NumRows()) != len(b.Origins) {
		t.Fatalf("%d rows, %d origins", b.Record.NumRows(), len(b.Origins))
	}
	res := formatResult{dead: dead, skipped: map[string]int{}}
	for k, v := range d.Skipped() {
		res.skipped[k] = v
	}
	prev := -1
	for row, o := range b.Origins {
		i, err := strconv.Atoi(o.SequenceNumber)
		if err != nil || i < prev || o.SubSequence != recs[i].SubSequence || !o.ArrivalTime.Equal(recs[i].ArrivalTime) {
			t.Fatalf("origin %+v wrong or out of order", o)
		}
		prev = i
		res.rows = append(res.rows, cells(b.Record, row))
		res.origins = append(res.origins, o.SequenceNumber)
	}
	for _, dl := range dead {
		i, err := strconv.Atoi(dl.SequenceNumber)
		if err != nil || dl.Shard != "shard-7" || dl.SubSequence != recs[i].SubSequence || !dl.ArrivalTime.Equal(recs[i].ArrivalTime) {
			t.Fatalf("dead letter provenance %+v", dl)
		}
		switch ReasonCode(dl.Reason) {
		case ReasonInvalidJSON, ReasonNotAnObject, ReasonMissingField, ReasonTypeMismatch, ReasonOutOfRange,
			ReasonInvalidTimestamp, ReasonInvalidUTF8, ReasonInvalidLine, ReasonInvalidGzip, ReasonInvalidEnvelope:
		default:
			t.Fatalf("unknown reason code in %q", dl.Reason)
		}
	}
	return res
}

func newFormat(t testing.TB, mem memory.Allocator, fields []Field, f Format) *Decoder {
	t.Helper()
	d, err := NewFormat(mem, fields, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Release)
	return d
}

func rowsEqual(t *testing.T, got [][]any, want ...[]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !sameOutcome(outcome{row: got[i]}, outcome{row: want[i]}) {
			t.Errorf("row %d:\n got  %v\n want %v", i, got[i], want[i])
		}
	}
}

func reasons(dead []flow.DeadLetter) []string {
	var out []string
	for _, d := range dead {
		out = append(out, d.Reason)
	}
	return out
}

func wantReasons(t *testing.T, dead []flow.DeadLetter, prefixes ...string) {
	t.Helper()
	if len(dead) != len(prefixes) {
		t.Fatalf("dead letters %q, want %d starting with %q", reasons(dead), len(prefixes), prefixes)
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(dead[i].Reason, p) {
			t.Errorf("dead letter %d: %q, want prefix %q", i, dead[i].Reason, p)
		}
	}
}

func gz(t testing.TB, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awsLambdaSample is the awslogs.data of the CloudWatch Logs test event in
// AWS's documentation (Lambda's "cloudwatch-logs" sample): base64 of the
// gzip-compressed subscription envelope, exactly as a subscription sends it.
const awsLambdaSample = "H4sIAAAAAAAAAHWPwQqCQBCGX0Xm7EFtK+smZBEUgXoLCdMhFtKV3akI8d0bLYmibvPPN3wz00CJxmQnTO41whwWQRIctmEcB6sQbFC3CjW3XW8kxpOpP+OC22d1Wml1qZkQGtoMsScxaczKN3plG8zlaHIta5KqWsozoTYw3/djzwhpLwivWFGHGpAFe7DL68JlBUk+l7KSN7tCOEJ4M3/qOI49vMHj+zCKdlFqLaU2ZHV2a4Ct/an0/ivdX8oYc1UVX860fQDQiMdxRQEAAA=="

func TestCloudWatchLogs(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{
		{Name: "group", Type: String, Path: "logGroup"},
		{Name: "stream", Type: String, Path: "logStream"},
		{Name: "owner", Type: String},
		{Name: "id", Type: String},
		{Name: "ts", Type: Timestamp, Path: "timestamp"},
		{Name: "message", Type: String},
	}, Format{Type: CloudWatchLogs})
	sample, err := base64.StdEncoding.DecodeString(awsLambdaSample)
	if err != nil {
		t.Fatal(err)
	}
	control := gz(t, `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],`+
		`"logEvents":[{"id":"","timestamp":1432826855000,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}`)
	res := decodeFormat(t, d, sample, control, sample)
	row1 := []any{"testLogGroup", "testLogStream", "123456789123", "eventId1", micros(1440442987000000), "[ERROR] First test message"}
	row2 := []any{"testLogGroup", "testLogStream", "123456789123", "eventId2", micros(1440442987001000), "[ERROR] Second test message"}
	rowsEqual(t, res.rows, row1, row2, row1, row2)
	if got := strings.Join(res.origins, ","); got != "0,0,2,2" {
		t.Errorf("origins %s, want 0,0,2,2 (each row its record's)", got)
	}
	wantReasons(t, res.dead)
	if res.skipped[SkipControlMessage] != 1 || len(res.skipped) != 1 {
		t.Errorf("skipped %v, want one control message", res.skipped)
	}
	// The next batch starts its counts afresh.
	if res := decodeFormat(t, d, sample); len(res.skipped) != 0 || len(res.rows) != 2 {
		t.Errorf("second batch: %d rows, skipped %v", len(res.rows), res.skipped)
	}
}

// cloudTrailEnvelope is the DATA_MESSAGE of the CloudWatch Logs
// documentation's Kinesis subscription example, whose messages are JSON.
func cloudTrailEnvelope(messages ...string) string {
	var evs []string
	for i, m := range messages {
		q, _ := json.Marshal(m)
		evs = append(evs, fmt.Sprintf(`{"id":"3195310660696698337880902507980421114328961542429822156%d","timestamp":1432826855000,"message":%s}`, i, q))
	}
	return `{"owner":"111111111111","logGroup":"CloudTrail/logs","logStream":"111111111111_CloudTrail/logs_us-east-1",` +
		`"subscriptionFilters":["Destination"],"messageType":"DATA_MESSAGE","logEvents":[` + strings.Join(evs, ",") + `]}`
}

func TestCloudWatchLogsJSONMessages(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{
		{Name: "group", Type: String, Path: "logGroup"},
		{Name: "ts", Type: Timestamp, Path: "timestamp"},
		{Name: "version", Type: String, Path: "message.eventVersion"},
		{Name: "identity", Type: String, Path: "message.userIdentity.type"},
		{Name: "n", Type: Int64, Path: "message.n", Nullable: true},
	}, Format{Type: CloudWatchLogs})
	good := `{"eventVersion":"1.03","userIdentity":{"type":"Root"}}`
	env := cloudTrailEnvelope(good, `{"eventVersion":"1.04","userIdentity":{"type":"IAMUser"},"n":7}`,
		`not json`, `{"eventVersion":"1.05"}`, `{"eventVersion":"1.03","userIdentity":{"type":"Root"}},"logGroup":"forged"`,
		`{"eventVersion":"1.03","userIdentity":{"type":"Root"},"n":"x"}`, ` `)
	res := decodeFormat(t, d, gz(t, env))
	ts := micros(1432826855000000)
	rowsEqual(t, res.rows,
		[]any{"CloudTrail/logs", ts, "1.03", "Root", nil},
		[]any{"CloudTrail/logs", ts, "1.04", "IAMUser", int64(7)})
	wantReasons(t, res.dead, "invalid_json: message of log event", "missing_field: identity", "invalid_json: message of log event",
		"type_mismatch: n", "invalid_json: message of log event")
	// A dead event's raw bytes are the event as the row decoder saw it.
	var ev map[string]any
	if err := json.Unmarshal(res.dead[1].Raw, &ev); err != nil || ev["logGroup"] != "CloudTrail/logs" || ev["id"] == nil {
		t.Errorf("dead event raw %s (%v)", res.dead[1].Raw, err)
	}
}

func TestCloudWatchLogsMalformed(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	const limit = 1 << 20 // MaxInflatedBytes (64 MiB) by default; smaller here to keep the test quick
	d := newFormat(t, mem, []Field{
		{Name: "ts", Type: Timestamp, Path: "timestamp"},
		{Name: "message", Type: String},
	}, Format{Type: CloudWatchLogs, MaxInflatedBytes: limit})
	sample, _ := base64.StdEncoding.DecodeString(awsLambdaSample)
	corrupt := bytes.Clone(sample)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC-32
	var bomb bytes.Buffer
	w := gzip.NewWriter(&bomb)
	zeros := make([]byte, 64<<10)
	for range limit/len(zeros) + 1 {
		w.Write(zeros)
	}
	w.Close()
	inputs := [][]byte{
		[]byte(`{"messageType":"DATA_MESSAGE","logEvents":[]}`), // not gzip
		sample[:len(sample)/2], // truncated
		corrupt,
		bomb.Bytes(),
		append(bytes.Clone(sample), 0, 1, 2), // trailing garbage
		gz(t, `{"messageType":"DATA_MESSAGE","logEvents":[`),
		gz(t, `[1,2]`),
		gz(t, `{"logEvents":[]}`),
		gz(t, `{"messageType":"DATA_MESSAGE"}`),
		gz(t, `{"messageType":"DATA_MESSAGE","logEvents":{}}`),
		gz(t, `{"messageType":"OTHER","logEvents":[]}`),
		gz(t, `{"messageType":"DATA_MESSAGE","logEvents":[{"timestamp":1,"message":"ok"},"x"]}`),
		gz(t, `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"no time"},{"timestamp":"1","message":"string time"},{"timestamp":1e3,"message":"ok"}]}`),
		gz(t, `{"messageType":"DATA\u005fMESSAGE","logEvents":[]}`), // an escaped type is still the type
		nil,
	}
	res := decodeFormat(t, d, inputs...)
	rowsEqual(t, res.rows, []any{micros(1000000), "ok"})
	wantReasons(t, res.dead, "invalid_gzip: not gzip", "invalid_gzip", "invalid_gzip", "invalid_gzip: inflates to more than",
		"invalid_gzip", "invalid_json: cloudwatch_logs envelope", "invalid_envelope: want a JSON object",
		"invalid_envelope: messageType", "invalid_envelope: logEvents: want an array, got nothing",
		"invalid_envelope: logEvents: want an array, got object", "invalid_envelope: messageType: want DATA_MESSAGE",
		"invalid_envelope: logEvents[1]", "missing_field: ts", "type_mismatch: ts", "invalid_gzip: not gzip")
	if !bytes.Equal(res.dead[0].Raw, inputs[0]) {
		t.Errorf("a dead record's raw bytes are the record")
	}
}

func TestApacheCombinedFormat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{
		{Name: "client", Type: String},
		{Name: "user", Type: String, Nullable: true},
		{Name: "ts", Type: Timestamp, Path: "time"},
		{Name: "method", Type: String, Nullable: true},
		{Name: "path", Type: String, Nullable: true},
		{Name: "status", Type: Int64},
		{Name: "bytes", Type: Int64, Nullable: true},
		{Name: "referrer", Type: String, Default: ptr("direct")},
		{Name: "agent", Type: String, Path: "user_agent", Nullable: true},
	}, Format{Type: ApacheCombined})
	res := decodeFormat(t, d,
		[]byte(`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`),
		[]byte("10.1.2.3 - - [22/Nov/2026:04:50:48 +0000] \"POST /api HTTP/1.1\" 201 - \"-\" \"curl/8\"\r\n\n"+
			`10.1.2.4 - - [22/Nov/2026:04:50:49 +0000] "GET / HTTP/1.1" 304 0 "-" "-"`+"\n"),
		[]byte(`10.1.2.5 - - [22/Nov/2026:04:50:48 +0000] "GET / HTTP/1.1" 200 512`), // common, not combined
		[]byte(`10.1.2.6 - - [31/Nov/2026:04:50:48 +0000] "GET / HTTP/1.1" 200 1 "-" "-"`),
		[]byte(`10.1.2.7 - - [22/Nov/2026:04:50:48 +0000] "GET / HTTP/1.1" abc 1 "-" "-"`),
		[]byte(`10.1.2.8 - - [22/Nov/2026:04:50:48 +0000] "GET / HTTP/1.1" 200 1.5 "-" "-"`),
		[]byte("10.1.2.9 - - [22/Nov/2026:04:50:48 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"\xff\""),
		[]byte(""),
	)
	rowsEqual(t, res.rows,
		[]any{"127.0.0.1", "frank", ts("2000-10-10T20:55:36Z"), "GET", "/apache_pb.gif", int64(200), int64(2326), "http://www.example.com/start.html", "Mozilla/4.08 [en] (Win98; I ;Nav)"},
		[]any{"10.1.2.3", nil, ts("2026-11-22T04:50:48Z"), "POST", "/api", int64(201), nil, "direct", "curl/8"},
		[]any{"10.1.2.4", nil, ts("2026-11-22T04:50:49Z"), "GET", "/", int64(304), int64(0), "direct", nil})
	if got := strings.Join(res.origins, ","); got != "0,1,1" {
		t.Errorf("origins %s", got)
	}
	if res.skipped[SkipEmptyLine] != 1 {
		t.Errorf("skipped %v, want one empty line", res.skipped)
	}
	wantReasons(t, res.dead, "invalid_line: apache_combined: want \"referrer\"", "invalid_timestamp: ts", "type_mismatch: status",
		"type_mismatch: bytes: want int64, got non-integer", "invalid_utf8: agent", "invalid_line: apache_combined: empty record")
	if string(res.dead[1].Raw) != `10.1.2.6 - - [31/Nov/2026:04:50:48 +0000] "GET / HTTP/1.1" 200 1 "-" "-"` {
		t.Errorf("raw %q", res.dead[1].Raw)
	}
}

func TestMultiLineRecordDeadLetterIsTheLine(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{{Name: "a", Type: Int64}, {Name: "b", Type: String}}, Format{Type: CSV})
	res := decodeFormat(t, d, []byte("1,x\nbad\n3,z\n"))
	rowsEqual(t, res.rows, []any{int64(1), "x"}, []any{int64(3), "z"})
	wantReasons(t, res.dead, "invalid_line: csv: fewer fields than columns")
	if !strings.HasSuffix(res.dead[0].Reason, "(line 2 of the record)") || string(res.dead[0].Raw) != "bad" {
		t.Errorf("dead letter %q raw %q", res.dead[0].Reason, res.dead[0].Raw)
	}
}

func TestSyslogFormat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	now := func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }
	d := newFormat(t, mem, []Field{
		{Name: "severity", Type: Int64, Nullable: true},
		{Name: "facility", Type: Int64, Nullable: true},
		{Name: "time", Type: Timestamp},
		{Name: "host", Type: String},
		{Name: "program", Type: String, Nullable: true},
		{Name: "pid", Type: Int64, Nullable: true},
		{Name: "msgid", Type: String, Nullable: true},
		{Name: "sd", Type: String, Path: "structured_data", Nullable: true},
		{Name: "message", Type: String, Nullable: true},
	}, Format{Type: Syslog, Timezone: "America/New_York", Now: now})
	res := decodeFormat(t, d,
		[]byte(`<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8`),
		[]byte(`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...`),
		[]byte(`Feb 28 23:59:59 web-1 sshd[4123]: Accepted publickey`),
		[]byte(`<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.`),
		[]byte(`<13>1 2003-08-24T05:14:15Z host app web-7 - - pid is not a number`),
		[]byte(`garbage`),
		[]byte(`<34>Oct 41 22:14:15 mymachine su: bad day`),
	)
	rowsEqual(t, res.rows,
		[]any{int64(2), int64(4), ts("2025-10-12T02:14:15Z"), "mymachine", "su", nil, nil, nil, "'su root' failed for lonvick on /dev/pts/8"},
		[]any{int64(5), int64(20), ts("2003-10-11T22:14:15.003Z"), "mymachine.example.com", "evntslog", nil, "ID47",
			`[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]`, "An application event log entry..."},
		[]any{nil, nil, ts("2026-03-01T04:59:59Z"), "web-1", "sshd", int64(4123), nil, nil, "Accepted publickey"},
		[]any{int64(5), int64(20), ts("2003-08-24T12:14:15.000003Z"), "192.0.2.1", "myproc", int64(8710), nil, nil, "%% It's time to make the do-nuts."})
	wantReasons(t, res.dead, "type_mismatch: pid", "invalid_line: syslog", "invalid_timestamp: time")
}

func TestCSVFormat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	fields := []Field{
		{Name: "id", Type: String},
		{Name: "qty", Type: Int64, Nullable: true},
		{Name: "price", Type: Float64, Default: ptr("0")},
		{Name: "ok", Type: Bool, Nullable: true},
		{Name: "day", Type: Timestamp, Path: "date", Format: "2006-01-02"},
		{Name: "at", Type: Timestamp, Path: "epoch", Format: "unix", Nullable: true},
	}
	d := newFormat(t, mem, fields, Format{Type: CSV, CSV: CSVOptions{Delimiter: ";", Columns: []string{"id", "date", "qty", "price", "ok", "epoch", "note"}, Header: true}})
	res := decodeFormat(t, d,
		[]byte("id;date;qty;price;ok;epoch;note\n\"a;1\";2026-11-22;3;1.5;true;1700000000;x\nb;2026-11-23;;;false;;\"quoted \"\"note\"\"\""),
		[]byte(`c;2026-11-24;3.0;1e2;;1700000000.5;`),
		[]byte(`d;2026-11-24;three;1;;;`),
		[]byte(`e;2026-11-24;1;1;yes;;`),
		[]byte(`f;2026-11-24;1;1;;"1700000000";`),
		[]byte(`g;24.11.2026;1;1;;;`),
		[]byte(`h;2026-11-24;1;1;;;;`),
		[]byte(`;2026-11-24;1;1;;;`),
	)
	rowsEqual(t, res.rows,
		[]any{"a;1", int64(3), 1.5, true, ts("2026-11-22T00:00:00Z"), ts("2023-11-14T22:13:20Z")},
		[]any{"b", nil, 0.0, false, ts("2026-11-23T00:00:00Z"), nil},
		[]any{"c", int64(3), 100.0, nil, ts("2026-11-24T00:00:00Z"), ts("2023-11-14T22:13:20.5Z")},
		// CSV quoting only escapes: a quoted number is a number.
		[]any{"f", int64(1), 1.0, nil, ts("2026-11-24T00:00:00Z"), ts("2023-11-14T22:13:20Z")})
	if res.skipped[SkipCSVHeader] != 1 {
		t.Errorf("skipped %v, want the header", res.skipped)
	}
	wantReasons(t, res.dead, "type_mismatch: qty", "type_mismatch: ok", "invalid_timestamp: day",
		"invalid_line: csv: more fields than columns", "missing_field: id")

	// Without columns, the schema's paths in order are the columns.
	d2 := newFormat(t, mem, []Field{{Name: "k", Type: String}, {Name: "v", Type: Int64}}, Format{Type: CSV})
	res = decodeFormat(t, d2, []byte("x,1\n\"y\",2"))
	rowsEqual(t, res.rows, []any{"x", int64(1)}, []any{"y", int64(2)})
}

func TestRegexFormat(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	d := newFormat(t, mem, []Field{
		{Name: "ts", Type: Timestamp, Path: "time"},
		{Name: "level", Type: String},
		{Name: "ms", Type: Float64, Nullable: true},
		{Name: "msg", Type: String},
	}, Format{Type: Regex, Regex: `^(?P<time>\S+) \[(?P<level>[A-Z]+)\](?: took=(?P<ms>\S+)ms)? (?P<msg>.*)$`})
	res := decodeFormat(t, d,
		[]byte(`2026-11-22T04:50:48.5Z [INFO] took=12.5ms request done`),
		[]byte(`2026-11-22T04:50:49Z [WARN] slow disk`),
		[]byte(`2026-11-22 [WARN] slow disk`),
		[]byte(`no match here`),
	)
	rowsEqual(t, res.rows,
		[]any{ts("2026-11-22T04:50:48.5Z"), "INFO", 12.5, "request done"},
		[]any{ts("2026-11-22T04:50:49Z"), "WARN", nil, "slow disk"})
	wantReasons(t, res.dead, "invalid_timestamp: ts", "invalid_line: regex: does not match the pattern")
}

func TestFormatConfigErrors(t *testing.T) {
	str := []Field{{Name: "a", Type: String}}
	cases := []struct {
		fields []Field
		f      Format
		want   []string
	}{
		{str, Format{Type: "xml"}, []string{`format: unknown format "xml"`}},
		{str, Format{Type: JSON, Regex: "x", Timezone: "UTC", CSV: CSVOptions{Header: true}}, []string{"csv: only applies", "regex: only applies", "timezone: only applies"}},
		{str, Format{Type: ApacheCombined}, []string{`fields[0].name: apache_combined has no field "a" (its fields: client, ident`}},
		{[]Field{{Name: "s", Type: Int64, Path: "status"}, {Name: "x", Type: String, Path: "nope"}}, Format{Type: ApacheCommon},
			[]string{`fields[1].path: apache_common has no field "nope"`}},
		{str, Format{Type: Regex}, []string{"regex: is required"}},
		{str, Format{Type: Regex, Regex: `(\d+`}, []string{"regex: regex: error parsing regexp"}},
		{str, Format{Type: Regex, Regex: `(?P<b>x)`}, []string{`fields[0].name: regex has no field "a" (its fields: b)`}},
		{str, Format{Type: CSV, CSV: CSVOptions{Delimiter: ";;"}}, []string{"csv.delimiter: must be one byte"}},
		{str, Format{Type: CSV, CSV: CSVOptions{Columns: []string{"a", "a"}}}, []string{`csv.columns: csv columns: duplicate name "a"`}},
		{str, Format{Type: Syslog, Timezone: "Mars/Olympus"}, []string{`timezone: unknown time zone "Mars/Olympus"`}},
		{str, Format{Type: CSV, Timezone: "UTC"}, []string{"timezone: only applies"}},
		{[]Field{{Name: "m", Type: String, Path: "message"}, {Name: "v", Type: String, Path: "message.v"}}, Format{Type: CloudWatchLogs},
			[]string{"fields[0].path: with message.<path> fields"}},
		{[]Field{{Name: "x", Type: String, Path: "logEvents"}, {Name: "g", Type: String, Path: "logGroup.x"}}, Format{Type: CloudWatchLogs},
			[]string{`fields[0].path: cloudwatch_logs has no field "logEvents"`, `fields[1].path: cloudwatch_logs has no field "logGroup.x"`}},
		{[]Field{{Name: "status", Type: "int32"}}, Format{Type: ApacheCommon}, []string{"fields[0].type: unknown type"}},
	}
	for _, c := range cases {
		_, err := NewFormat(memory.DefaultAllocator, c.fields, c.f)
		if err == nil {
			t.Errorf("%+v: no error, want %q", c.f, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v\n  want it to contain %q", c.f, err, w)
			}
		}
	}
	// Every format builds with a suitable schema.
	for _, f := range []Format{{}, {Type: JSON}, {Type: CSV}, {Type: Regex, Regex: `(?P<a>.*)`}} {
		if _, err := NewFormat(memory.DefaultAllocator, str, f); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
}

// TestFormatsDoNotAllocatePerRow decodes large batches: allocations are per
// batch (the record's arrays, the origins), not per row — except for regex,
// whose matcher returns a new slice per line.
func TestFormatsDoNotAllocatePerRow(t *testing.T) {
	for _, c := range formatBenchCases(t) {
		d := newFormat(t, memory.NewGoAllocator(), c.fields, c.format)
		n := 1000 // rows per batch, at least: the batch's ~60 allocations are 0.06 per row
		if c.rowsPer > 1 {
			n = 20 // records of 50 events
		}
		recs := c.records(n)
		decodeOnce := func() {
			b, dead := d.Decode("s", recs)
			if len(dead) != 0 || b.Rows() != c.rowsPer*n {
				t.Fatalf("%s: %d rows, dead %q", c.name, b.Rows(), reasons(dead))
			}
			b.Record.Release()
		}
		decodeOnce()
		perRow := testing.AllocsPerRun(3, decodeOnce) / float64(c.rowsPer*n)
		limit := 0.1 // about 60 per batch of 1000: arrays, buffers, origins
		if c.format.Type == Regex {
			limit = 3 // one per line for the match (two more under -race)
		}
		if perRow > limit {
			t.Errorf("%s: %.3f allocations per row", c.name, perRow)
		}
	}
}

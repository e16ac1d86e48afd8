package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/internal/testenv"
)

// TestAgentTailRotationIntoKinesis writes lines while the agent runs and
// rotates the file by rename and by copytruncate, then finds every line in
// the stream exactly once.
func TestAgentTailRotationIntoKinesis(t *testing.T) {
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	stream := testenv.UniqueName(t, "agent")
	testenv.CreateStream(t, kc, stream, 2)
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	cfg := parseConfig(t, agentYAML(env, dir, fmt.Sprintf(`
  - name: app
    files: [%q]
    kinesis_stream: %s
    discover_interval: 50ms
    poll_interval: 10ms
    close_inactive: 300ms
    batch: {linger: 20ms}
`, log+"*", stream)))
	a, stop := startAgent(t, cfg, false)
	var want []string
	write := func(from, to int) {
		var sb strings.Builder
		for i := from; i < to; i++ {
			l := lineOf("app", i)
			want = append(want, l)
			sb.WriteString(l + "\n")
		}
		appendFile(t, log, sb.String())
	}
	put := func() int64 { return a.Snapshot().Flows[0].RecordsPut }
	write(0, 800)
	waitFor(t, 20*time.Second, "the first lines", func() bool { return put() > 100 })
	write(800, 1000)
	// Rotation by rename while lines are in flight.
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log+".1", lineOf("app", 1000)+"\n") // written before the app reopened
	want = append(want, lineOf("app", 1000))
	write(1001, 2000)
	waitFor(t, 20*time.Second, "lines after the rename", func() bool { return put() > 1500 })
	// Rotation by copytruncate.
	write(2000, 2500)
	copytruncate(t, log, log+".2")
	write(2500, 3000)
	waitFor(t, 30*time.Second, "every line put", func() bool { return put() >= int64(len(want)) })
	time.Sleep(300 * time.Millisecond) // anything more would show as a duplicate
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := streamData(t, kc, stream)
	c := tally(got, want)
	if c.missing != 0 || c.dups != 0 || c.extra != 0 || len(got) != len(want) {
		t.Fatalf("%d lines in the stream for %d written: %d missing, %d duplicates (e.g. %q), %d unexpected",
			len(got), len(want), c.missing, c.dups, c.twice, c.extra)
	}
	snap := a.Snapshot().Flows[0]
	if snap.LinesRead != int64(len(want)) || snap.RecordsPut != int64(len(want)) {
		t.Errorf("snapshot: %d lines read, %d put", snap.LinesRead, snap.RecordsPut)
	}
}

// TestAgentApacheToFirehose converts Apache combined lines to JSON with
// metadata, sends malformed lines to the dead-letter file, and packs the
// records into Firehose records; S3 gets every good line once.
func TestAgentApacheToFirehose(t *testing.T) {
	env := testenv.Load(t)
	fh := env.Firehose(t)
	s3c := env.S3(t)
	ds := testenv.UniqueName(t, "agent-fh")
	if err := delivered.CreateDeliveryStream(context.Background(), fh, ds, env.S3Bucket, time.Second); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := parseConfig(t, agentYAML(env, dir, fmt.Sprintf(`
  - name: web
    files: [%q]
    firehose_delivery_stream: %s
    convert: {format: apache_combined}
    add_metadata: {host: host, file: file, offset: offset}
    poll_interval: 10ms
    batch: {linger: 20ms}
`, filepath.Join(dir, "access.log"), ds)))
	var sb strings.Builder
	const n = 500
	for i := range n {
		fmt.Fprintf(&sb, `10.0.%d.%d - - [22/Nov/2026:04:%02d:%02d +0000] "GET /p/%d HTTP/1.1" %d %d "-" "agent/%d"`+"\n",
			i%256, i%100, i/60%60, i%60, i, []int{200, 404, 500}[i%3], 100+i, i%7)
		if i%100 == 0 {
			sb.WriteString("this is not an access log line\n")
		}
	}
	appendFile(t, filepath.Join(dir, "access.log"), sb.String())
	a, stop := startAgent(t, cfg, true) // once: everything there is sent, then Run returns
	waitFor(t, 30*time.Second, "every line put", func() bool { return a.Snapshot().Flows[0].RecordsPut >= n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	snap := a.Snapshot().Flows[0]
	if snap.DeadLetters["convert_failed"] != 5 || snap.Entries > 5 {
		t.Errorf("dead letters %v, %d Firehose records for %d lines", snap.DeadLetters, snap.Entries, n)
	}
	dl, _ := os.ReadFile(filepath.Join(dir, "state", "dead-letter.ndjson"))
	if got := bytes.Count(dl, []byte("\n")); got != 5 || !bytes.Contains(dl, []byte(`"reason":"convert_failed: apache_combined:`)) {
		t.Errorf("dead-letter file has %d lines:\n%s", got, dl)
	}
	var res *delivered.Result
	waitFor(t, 30*time.Second, "the rows in S3", func() bool {
		var err error
		res, err = delivered.Collect(context.Background(), s3c, env.S3Bucket, ds+"/", "path", 1)
		return err == nil && res.Rows >= n
	})
	if res.Rows != n || len(res.IDs) != n || res.BadLines != 0 {
		t.Fatalf("S3: %d rows, %d distinct paths, %d unreadable; want %d", res.Rows, len(res.IDs), res.BadLines, n)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(res.Sample[0]), &row); err != nil {
		t.Fatal(err)
	}
	if row["host"] != "test-host" || row["file"] != filepath.Join(dir, "access.log") || row["status"] == nil || row["time"] == nil {
		t.Errorf("row %s", res.Sample[0])
	}
}

// TestAgentS3Feed reads NDJSON and gzip-compressed CSV objects under a
// prefix; a run stopped part-way and run again sends every line once, and
// a third run sends only the object added since.
func TestAgentS3Feed(t *testing.T) {
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	s3c := env.S3(t)
	stream := testenv.UniqueName(t, "agent-s3")
	testenv.CreateStream(t, kc, stream, 2)
	prefix := strings.ToLower(testenv.UniqueName(t, "feed")) + "/"
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := s3c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(env.S3Bucket), Key: aws.String(prefix + key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	var nd strings.Builder
	const ndLines = 8000
	for i := range ndLines {
		l := fmt.Sprintf(`{"id":"nd-%d","pad":"%s"}`, i, strings.Repeat("x", 400+i%50))
		nd.WriteString(l + "\n")
		want = append(want, l)
	}
	put("a/events.ndjson", []byte(nd.String()))
	var csv bytes.Buffer
	zw := gzip.NewWriter(&csv)
	fmt.Fprintln(zw, "id,amount,note")
	const csvLines = 8000
	note := strings.Repeat("n", 400)
	for i := range csvLines {
		fmt.Fprintf(zw, "csv-%d,%d,%s\n", i, i*3, note)
		want = append(want, fmt.Sprintf(`{"id":"csv-%d","amount":%d,"note":"%s"}`, i, i*3, note))
	}
	zw.Close()
	put("b/orders.csv.gz", csv.Bytes())
	dir := t.TempDir()
	flows := fmt.Sprintf(`
  - name: ndjson
    s3: {bucket: %s, prefix: %q, poll_interval: 100ms}
    kinesis_stream: %s
    poll_interval: 10ms
    batch: {linger: 20ms, max_records: 50, max_bytes: 1048576}
    max_in_flight: 1
    max_buffer_bytes: 1048576   # so that a stop leaves the object part-read
  - name: csv
    s3: {bucket: %s, prefix: %q, poll_interval: 100ms}
    kinesis_stream: %s
    convert: {format: csv, csv: {header: true, numbers: true}}
    poll_interval: 10ms
    batch: {linger: 20ms, max_records: 50, max_bytes: 1048576}
    max_in_flight: 1
    max_buffer_bytes: 1048576
`, env.S3Bucket, prefix+"a/", stream, env.S3Bucket, prefix+"b/", stream)
	yaml := agentYAML(env, dir, flows)

	// Run 1: stopped part-way through the NDJSON object.
	a, stop := startAgent(t, parseConfig(t, yaml), false)
	waitFor(t, 30*time.Second, "part of the objects", func() bool {
		s := a.Snapshot()
		return s.Flows[0].RecordsPut > 300 || s.Flows[1].RecordsPut > 300
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first, firstCSV := a.Snapshot().Flows[0].RecordsPut, a.Snapshot().Flows[1].RecordsPut
	// Run 2 (once): the rest.
	a2, stop2 := startAgent(t, parseConfig(t, yaml), true)
	waitFor(t, 60*time.Second, "the rest", func() bool {
		s := a2.Snapshot()
		return first+s.Flows[0].RecordsPut >= ndLines && firstCSV+s.Flows[1].RecordsPut >= csvLines
	})
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	got := streamData(t, kc, stream)
	if c := tally(got, want); c.missing != 0 || c.dups != 0 || c.extra != 0 || len(got) != len(want) {
		t.Fatalf("%d records for %d lines: %d missing, %d duplicates (%q), %d unexpected", len(got), len(want), c.missing, c.dups, c.twice, c.extra)
	}
	t.Logf("first run stopped after %d of %d NDJSON and %d of %d CSV lines", first, ndLines, firstCSV, csvLines)
	if first >= ndLines || firstCSV >= csvLines {
		t.Fatalf("the first run was not stopped part-way (%d and %d put)", first, firstCSV)
	}
	// Run 3 (once): one new object; the done ones are not read again.
	put("a/late.ndjson", []byte(`{"id":"late-1"}`+"\n"+`{"id":"late-2"}`))
	a3, stop3 := startAgent(t, parseConfig(t, yaml), true)
	waitFor(t, 30*time.Second, "the new object", func() bool { return a3.Snapshot().Flows[0].RecordsPut >= 2 })
	if err := stop3(); err != nil {
		t.Fatal(err)
	}
	if s := a3.Snapshot(); s.Flows[0].LinesRead != 2 || s.Flows[1].LinesRead != 0 {
		t.Fatalf("third run read %d and %d lines, want only the new object's 2", s.Flows[0].LinesRead, s.Flows[1].LinesRead)
	}
	if got := streamData(t, kc, stream); len(got) != len(want)+2 {
		t.Fatalf("%d records after the new object, want %d", len(got), len(want)+2)
	}
}

func TestConfigErrors(t *testing.T) {
	base := `
state_file: /tmp/x/state.json
flows:
  - name: f
    files: [/var/log/*.log]
    kinesis_stream: s
`
	cases := []struct{ from, to, want string }{
		{"state_file: /tmp/x/state.json", "", "state_file: is required"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    firehose_delivery_stream: d", "set exactly one of kinesis_stream and firehose_delivery_stream"},
		{"    files: [/var/log/*.log]", "    files: ['[']", `flows[0].files[0]: "[" is not a valid glob`},
		{"    files: [/var/log/*.log]", "    s3: {bucket: b}\n    files: [/x]", "set files or s3, not both"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    partition_key: user", "partition_key: must be random, line_hash or field:<name>"},
		{"    kinesis_stream: s", "    firehose_delivery_stream: d\n    aggregate: true", "aggregate: applies to kinesis_stream only"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    convert: {format: nginx}", `unknown format "nginx"`},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    convert: {format: apache_combined, csv: {header: true}}", "csv options apply to format csv only"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    multiline: {start_pattern: '('}", "multiline.start_pattern"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    initial_position: middle", "initial_position: must be"},
		{"    kinesis_stream: s", "    kinesis_stream: s\n    bogus: 1", "field bogus not found"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(strings.Replace(base, c.from, c.to, 1)), func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q → %q: %v, want %q", c.from, c.to, err, c.want)
		}
	}
	cfg, err := Parse([]byte(base), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Flows[0]; f.PartitionKey != "random" || !*f.Pack || cfg.DeadLetterFile != "/tmp/x/dead-letter.ndjson" {
		t.Errorf("defaults: %+v", cfg)
	}
}

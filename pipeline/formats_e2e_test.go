package pipeline_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardflow/shardflow/pipeline"
)

// TestCloudWatchLogsSourceEndToEnd puts CloudWatch Logs subscription
// records (gzip envelopes, as a subscription filter writes them) into the
// stream: every log event becomes one row in S3, control messages are
// skipped and counted, a broken record and a bad event are dead-lettered
// with their reasons, and the checkpoint covers them all.
func TestCloudWatchLogsSourceEndToEnd(t *testing.T) {
	s := newStack(t, 2)
	yaml := strings.Replace(s.yaml("redis", "format: cloudwatch_logs"), `
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64}
  - {name: user_agent, type: string}
`, `
schema:
  - {name: event_id, type: string, path: message.event_id}
  - {name: group, type: string, path: logGroup}
  - {name: ts, type: timestamp, path: timestamp}
  - {name: level, type: string, path: message.level}
  - {name: ms, type: int64, path: message.ms, nullable: true}
`, 1)
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yaml)
	}
	kc := s.env.Kinesis(t)
	var entries []kintypes.PutRecordsRequestEntry
	want := map[string]bool{}
	envelope := func(typ string, events []string) []byte {
		var evs []string
		for i, m := range events {
			q, _ := json.Marshal(m)
			evs = append(evs, fmt.Sprintf(`{"id":"%d","timestamp":%d,"message":%s}`, i, 1763787048000+int64(i), q))
		}
		doc := fmt.Sprintf(`{"messageType":%q,"owner":"123456789012","logGroup":"/aws/lambda/checkout","logStream":"s","subscriptionFilters":["f"],"logEvents":[%s]}`,
			typ, strings.Join(evs, ","))
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(doc))
		zw.Close()
		return buf.Bytes()
	}
	const records, perRecord = 40, 25
	n := 0
	for r := range records {
		var msgs []string
		for range perRecord {
			id := fmt.Sprintf("ev-%05d", n)
			want[id] = true
			msgs = append(msgs, fmt.Sprintf(`{"event_id":%q,"level":"info","ms":%d}`, id, n%300))
			n++
		}
		if r == 7 {
			msgs = append(msgs, `not json at all`) // one bad event among good ones
		}
		entries = append(entries, kintypes.PutRecordsRequestEntry{Data: envelope("DATA_MESSAGE", msgs), PartitionKey: aws.String(fmt.Sprint(r))})
	}
	entries = append(entries,
		kintypes.PutRecordsRequestEntry{Data: envelope("CONTROL_MESSAGE", []string{"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}), PartitionKey: aws.String("c1")},
		kintypes.PutRecordsRequestEntry{Data: envelope("CONTROL_MESSAGE", []string{"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}), PartitionKey: aws.String("c2")},
		kintypes.PutRecordsRequestEntry{Data: []byte(`{"not":"gzip"}`), PartitionKey: aws.String("bad")},
	)
	out, err := kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v (%d failed)", err, aws.ToInt32(out.FailedRecordCount))
	}
	p, stop := runPipeline(t, cfg, "w1")
	res := s.waitDelivered(t, len(want), 90*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for countLines(t, s.deadFile) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	skippedControl := scrape(t, p.OpsAddr(), "shardflow_input_skipped_total", `reason="cloudwatch_control_message"`)
	c := stop()
	checkExactlyOnce(t, res, want)
	if c.RecordsIn != int64(len(entries)) || c.RowsOut != int64(len(want)) || c.DeadLetters != 2 {
		t.Errorf("counters: %d records in (want %d), %d rows out (want %d), %d dead letters (want 2)",
			c.RecordsIn, len(entries), c.RowsOut, len(want), c.DeadLetters)
	}
	reasons := strings.Join(deadReasons(t, s.deadFile), " | ")
	if !strings.Contains(reasons, "invalid_json: message of log event") || !strings.Contains(reasons, "invalid_gzip") {
		t.Errorf("dead-letter reasons %q", reasons)
	}
	if skippedControl != 2 {
		t.Errorf("shardflow_input_skipped_total{reason=cloudwatch_control_message} = %v, want 2", skippedControl)
	}
}

func deadReasons(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Reason string }
		json.Unmarshal(sc.Bytes(), &e)
		out = append(out, e.Reason)
	}
	return out
}

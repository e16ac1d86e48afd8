package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/pipelinetest"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/sinks/deadletter"
)

// TestRedriveDeliversFixedDeadLettersOnce is the demo's story: malformed
// records are dead-lettered (invalid_json) while the rest is delivered; the
// envelopes are fixed (their raw JSON repaired, as one would with jq) and
// redriven with `shardflow deadletter redrive --reason invalid_json`: each
// arrives exactly once, an envelope of another reason stays out, and
// nothing already delivered comes again.
func TestRedriveDeliversFixedDeadLettersOnce(t *testing.T) {
	const events, malformed = 400, 6
	s := pipelinetest.New(t, 2)
	delivery := s.Delivery(t, "out")
	path, cfg := testPipeline(t, s, delivery, "redis", "TRIM_HORIZON")
	deadFile := cfg.DeadLetter.File
	gen := workload.Config{Seed: 71, Total: events}
	if _, err := produce.Put(context.Background(), s.Env.Kinesis(t), workload.New(gen),
		produce.Options{Stream: s.Stream, Count: events + malformed, Malformed: malformed}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	g := workload.New(gen)
	for range events {
		e := g.Next()
		want[e.ID()] = true
	}
	r := pipelinetest.Run(t, cfg, "w1")
	s.WaitRows(t, delivery+"/", "event_id", events, 60*time.Second)
	pipelinetest.WaitFor(t, "the malformed records in the dead-letter file", 20*time.Second, func() bool {
		return len(readEnvelopes(t, deadFile)) == malformed
	})

	// Fix: every broken record becomes a complete event with a new id.
	var fixed bytes.Buffer
	fixedIDs := map[string]bool{}
	for i, env := range readEnvelopes(t, deadFile) {
		if !strings.HasPrefix(env.Reason, "invalid_json") {
			t.Fatalf("dead letter %d has reason %q, want invalid_json", i, env.Reason)
		}
		id := fmt.Sprintf("fixed-%d", i)
		fixedIDs[id] = true
		env.RawBase64 = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(
			`{"event_id":%q,"user_id":"u-1","page":"/fixed","country":"DE","ts":"2026-11-22T10:00:00Z","price":1.5,"user_agent":"redrive"}`, id)))
		line, _ := json.Marshal(env)
		fixed.Write(append(line, '\n'))
	}
	// An envelope of another reason, which --reason must leave out.
	other, _ := json.Marshal(deadletter.Envelope{Reason: "enrich_miss: user:u-9", Pipeline: cfg.Name, Shard: "shardId-000000000000",
		Sequence: "1", RawBase64: base64.StdEncoding.EncodeToString([]byte(`{"event_id":"not-redriven","user_id":"u","page":"/","country":"DE","ts":"2026-11-22T10:00:00Z","price":1,"user_agent":"x"}`))})
	fixed.Write(append(other, '\n'))
	// And one of another pipeline.
	foreign, _ := json.Marshal(deadletter.Envelope{Reason: "invalid_json: x", Pipeline: "someone-else", Shard: "shardId-000000000000",
		Sequence: "2", RawBase64: base64.StdEncoding.EncodeToString([]byte(`{"event_id":"foreign","user_id":"u","page":"/","country":"DE","ts":"2026-11-22T10:00:00Z","price":1,"user_agent":"x"}`))})
	fixed.Write(append(foreign, '\n'))
	fixedFile := filepath.Join(t.TempDir(), "fixed.ndjson")
	if err := os.WriteFile(fixedFile, fixed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// The same envelopes, gzipped in S3 (as a dead_letter.firehose stream
	// delivers them): a dry run reads and counts them.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(fixed.Bytes())
	zw.Close()
	prefix := s.Name + "-dead/"
	if _, err := s.Env.S3(t).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.Env.S3Bucket),
		Key: aws.String(prefix + "2026/11/22/10/dead-1.gz"), Body: bytes.NewReader(gz.Bytes())}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("deadletter", "redrive", "-c", path, "--from", "s3://"+s.Env.S3Bucket+"/"+prefix, "--reason", "invalid_json", "--dry-run")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("read %d envelopes from 1 sources; %d matched (invalid_json %d); would put %d", malformed+2, malformed, malformed, malformed)) {
		t.Fatalf("dry run from S3: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut = runCLI("deadletter", "redrive", "-c", path, "--from", fixedFile, "--reason", "invalid_json")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("put %d records into %s", malformed, s.Stream)) {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
	res := s.WaitRows(t, delivery+"/", "event_id", events+malformed, 60*time.Second)
	time.Sleep(2 * time.Second) // a duplicate or a left-out envelope would land by now
	c := r.Stop()
	res = s.Collect(t, delivery+"/", "event_id")
	countIDs(t, res.IDs, want, 1, "original events")
	countIDs(t, res.IDs, fixedIDs, 1, "redriven events")
	for _, id := range []string{"not-redriven", "foreign"} {
		if res.IDs[id] != 0 {
			t.Errorf("%s arrived: the filters let it through", id)
		}
	}
	if res.Rows != events+malformed {
		t.Errorf("%d rows in S3, want %d", res.Rows, events+malformed)
	}
	if n := len(readEnvelopes(t, deadFile)); n != malformed {
		t.Errorf("dead-letter file has %d entries after the redrive, want still %d (nothing failed again)", n, malformed)
	}
	if c.RecordsIn != events+2*malformed {
		t.Errorf("pipeline read %d records, want %d", c.RecordsIn, events+2*malformed)
	}

	// Bad input to the tool is an error with the line, never skipped.
	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	os.WriteFile(bad, append(fixed.Bytes(), []byte("not json\n")...), 0o644)
	if code, _, errOut := runCLI("deadletter", "redrive", "-c", path, "--from", bad, "--dry-run"); code != 1 || !strings.Contains(errOut, "line 9") {
		t.Errorf("unreadable line: exit %d, stderr %s", code, errOut)
	}
}

func readEnvelopes(t *testing.T, path string) []deadletter.Envelope {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []deadletter.Envelope
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var env deadletter.Envelope
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, env)
	}
	return out
}

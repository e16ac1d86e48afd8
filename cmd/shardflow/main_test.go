package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestValidateAcceptsTheExample(t *testing.T) {
	code, out, errOut := runCLI("validate", "-c", "../../examples/clicks.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func TestValidatePrintsEveryProblemWithItsPath(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	err := os.WriteFile(bad, []byte(`
name: "bad name"
source: {stream: s, max_records: 0, lease_duration: 1ms}
schema: [{name: a, type: text}]
outputs: [{name: o, firehose: {delivery_stream: d, format: xml}}]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("validate", "-c", bad)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"name:", "source.lease_duration:", "schema[0].type", "outputs[0].firehose.format:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"run"}, {"validate", "-c"}, {"produce"}, {"local", "setup"}} {
		if code, _, _ := runCLI(args...); code != 2 {
			t.Errorf("%v: exit code %d, want 2", args, code)
		}
	}
	if code, out, _ := runCLI("version"); code != 0 || !strings.HasPrefix(out, "shardflow ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestLocalRefusesNonLoopbackEndpoints(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aws.yaml")
	err := os.WriteFile(cfg, []byte(`
name: p
aws: {endpoints: {kinesis: "https://kinesis.us-east-1.amazonaws.com"}}
redis: {url: "redis://127.0.0.1:6379/0"}
source: {stream: s}
schema: [{name: a, type: string}]
outputs: [{name: o, firehose: {delivery_stream: d}}]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("local", "setup", "-c", cfg, "--bucket", "b")
	if code != 1 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
}

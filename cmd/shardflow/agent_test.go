package main

import (
	"strings"
	"testing"

	"github.com/shardflow/shardflow/ingest"
)

func TestAgentExamplesAreValid(t *testing.T) {
	if code, out, errOut := runCLI("validate", "-c", "../../examples/access-logs.yaml"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("pipeline example: code %d\n%s%s", code, out, errOut)
	}
	cfg, err := ingest.Load("../../examples/agent/access.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Flows[0]; f.KinesisStream != "access-logs" || !f.Aggregate || len(f.Files) != 1 {
		t.Fatalf("agent example: %+v", f)
	}
}

func TestAgentUsage(t *testing.T) {
	if code, _, errOut := runCLI("agent"); code != 2 || !strings.Contains(errOut, "-c FILE is required") {
		t.Errorf("agent without -c: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI("agent", "-c", "/nonexistent/agent.yaml"); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: code %d, %q", code, errOut)
	}
}

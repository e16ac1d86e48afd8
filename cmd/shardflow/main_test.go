package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// TestHealthcheckFollowsTheEndpoint: the healthcheck command exits 0 on a
// 200 and 1 (with the answer) on a 503 or when nothing listens.
func TestHealthcheckFollowsTheEndpoint(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "unhealthy\noutputs: gave up\n")
			return
		}
		fmt.Fprint(w, "ok\n")
	}))
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out, errs strings.Builder
	if code := run([]string{"healthcheck", "--addr", addr}, &out, &errs); code != 0 || out.String() != "ok\n" {
		t.Errorf("healthy: exit %d, stdout %q, stderr %q", code, out.String(), errs.String())
	}
	healthy.Store(false)
	errs.Reset()
	if code := run([]string{"healthcheck", "--addr", addr}, &out, &errs); code != 1 || !strings.Contains(errs.String(), "503") || !strings.Contains(errs.String(), "outputs: gave up") {
		t.Errorf("unhealthy: exit %d, stderr %q", code, errs.String())
	}
	srv.Close()
	errs.Reset()
	if code := run([]string{"healthcheck", "--addr", addr, "--timeout", "1s"}, &out, &errs); code != 1 {
		t.Errorf("nothing listening: exit %d, stderr %q", code, errs.String())
	}
}

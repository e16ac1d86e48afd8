package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
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

// validate takes the file as an argument too, and several files; each
// problem is "file:line:column: path: message".
func TestValidatePositionalFiles(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nsource: {stream_name: s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("validate", "../../examples/clicks.yaml")
	if code != 0 || out != "../../examples/clicks.yaml: ok\n" {
		t.Fatalf("one file: code %d stdout %q stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI("validate", "../../examples/clicks.yaml", bad)
	if code != 1 || !strings.Contains(out, "clicks.yaml: ok") {
		t.Fatalf("two files: code %d stdout %q", code, out)
	}
	want := bad + `:2:10: source.stream_name: unknown key (did you mean "stream"?)`
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, bad+": 5 problems") {
		t.Fatalf("stderr lacks %q and the count:\n%s", want, errOut)
	}
	if code, _, _ := runCLI("validate"); code != 2 {
		t.Errorf("validate without a file: exit %d, want 2", code)
	}
}

// config prints the effective config (defaults filled in, marked) with
// secrets masked, and it reads back to a valid config.
func TestConfigMasksSecretsAndFillsDefaults(t *testing.T) {
	t.Setenv("TEST_REDIS_PASSWORD", "hunter2")
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	err := os.WriteFile(cfg, []byte(`name: p
redis: {url: "redis://:${TEST_REDIS_PASSWORD}@127.0.0.1:6379/0"}
source: {stream: s}
schema: [{name: a, type: string}]
outputs: [{name: o, firehose: {delivery_stream: d, linger: 0s}}]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("config", "-c", cfg)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "url: redis://:****@127.0.0.1:6379/0") {
		t.Errorf("the password is not masked:\n%s", out)
	}
	for _, want := range []string{"linger: 0s\n", "lease_duration: 10s # default", "max_in_flight: 4 # default", "file: dead-letter/p.ndjson # default"} {
		if !strings.Contains(out, want) {
			t.Errorf("config lacks %q:\n%s", want, out)
		}
	}
	back := filepath.Join(t.TempDir(), "back.yaml")
	if err := os.WriteFile(back, []byte(strings.ReplaceAll(out, "****", "${TEST_REDIS_PASSWORD}")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("validate", back); code != 0 {
		t.Errorf("the effective config does not validate: %s", errOut)
	}
}

// explain prints each stage with its columns, the windows' result types and
// the outputs' costs.
func TestExplainTheExample(t *testing.T) {
	code, out, errOut := runCLI("explain", "-c", "../../examples/clicks.yaml")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{
		"decode  json → 7 columns",
		"transforms[0]  redis_lookup key enrich:user:{user_id} (hash), on_miss default",
		"  out  + plan string",
		"transforms[1]  derive price_cents float64 = price * 100",
		"  revenue      sum(price) → float64",
		"  users        count_distinct(user_id) → int64",
		"result window_start timestamp, window_end timestamp, country string, clicks int64",
		"outputs[0]  events → firehose clicks-events",
		"3 Firehose records, 1 PutRecordBatch call",
		"dead letters → file deploy/local/.state/dead-letter/clicks.ndjson",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}

// TestHelpExitsZero: every command's -h / --help prints its help on stdout
// and exits 0 — not a missing-flag error, not the command's work (schema
// must not dump the schema).
func TestHelpExitsZero(t *testing.T) {
	cases := []struct {
		args []string
		want string // a line the help must contain
	}{
		{[]string{"run"}, "-worker-id"},
		{[]string{"validate"}, "-c"},
		{[]string{"produce"}, "-kpl"},
		{[]string{"local"}, "setup"},
		{[]string{"local", "setup"}, "-buffer-interval"},
		{[]string{"enrich"}, "enrich load FILE"},
		{[]string{"enrich", "load"}, "-key"},
		{[]string{"enrich", "load", "users.csv"}, "-ttl"},
		{[]string{"scale"}, "-max-shards-per-task"},
		{[]string{"healthcheck"}, "-addr"},
		{[]string{"schema"}, "usage: shardflow schema"},
		{[]string{"version"}, "usage: shardflow version"},
		{[]string{"checkpoints"}, "reset"},
		{[]string{"checkpoints", "list"}, "-c"},
		{[]string{"checkpoints", "reset"}, "-to"},
		{[]string{"deadletter"}, "redrive"},
		{[]string{"deadletter", "redrive"}, "-from"},
		{[]string{"status"}, "-c"},
		{[]string{"leases"}, "-no-lag"},
		{[]string{"config"}, "-c"},
		{[]string{"explain"}, "-c"},
	}
	for _, c := range cases {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string(nil), c.args...), h)
			code, out, errOut := runCLI(args...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Errorf("%v: exit %d, stdout lacks %q:\n%s\nstderr:\n%s", args, code, c.want, out, errOut)
			}
			if strings.Contains(out, `"$schema"`) {
				t.Errorf("%v printed the JSON Schema instead of help", args)
			}
		}
	}
	if code, out, _ := runCLI("--help"); code != 0 || !strings.Contains(out, "checkpoints") || !strings.Contains(out, "deadletter") {
		t.Errorf("--help: exit %d, lists no checkpoints/deadletter commands:\n%s", code, out)
	}
}

// TestVersionDescribesTheBuild: the -ldflags version wins; without it the
// module version and the VCS stamp from the build information are used.
func TestVersionDescribesTheBuild(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-11-22T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		ldflags string
		info    *debug.BuildInfo
		want    string
	}{
		{"v1.2.3", info, "v1.2.3 (commit 0123456789abcdef, modified, 2026-11-22T10:00:00Z) go1.26.0"},
		{"", info, "devel (commit 0123456789abcdef, modified, 2026-11-22T10:00:00Z) go1.26.0"},
		{"", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.4.0"}}, "v0.4.0 go1.26.0"},
		{"v0.5.0-3-gabc", nil, "v0.5.0-3-gabc " + runtime.Version()},
	} {
		if got := describeVersion(c.ldflags, c.info); got != c.want {
			t.Errorf("describeVersion(%q, …) = %q, want %q", c.ldflags, got, c.want)
		}
	}
}

// TestVersionFromLdflags builds the binary as the Makefile does and runs
// `shardflow version`: it prints the -X main.version value, not "dev".
func TestVersionFromLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "shardflow")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "shardflow v9.8.7-test ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("version: %v %q", err, out)
	}
}

// TestEveryExampleValidates: each pipeline under examples/ passes
// `shardflow validate` (with the local stack's variables unset: every
// ${VAR} in an example has a default).
func TestEveryExampleValidates(t *testing.T) {
	// Paths in a pipeline file (static tables) are relative to the
	// directory shardflow runs in: the examples' to the repository root.
	t.Chdir("../..")
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) < 7 {
		t.Fatalf("examples: %v, %d files (want the seven example pipelines)", err, len(files))
	}
	for _, f := range files {
		code, out, errOut := runCLI("validate", "-c", f)
		if code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("%s: exit %d\nstdout %s\nstderr %s", f, code, out, errOut)
		}
	}
}

package pipeline

import (
	"strings"
	"testing"
	"time"
)

const validYAML = `
name: clicks
aws: {region: eu-west-1, endpoints: {kinesis: "${KIN:-}"}}
redis: {url: "redis://127.0.0.1:6379/0"}
source: {stream: clicks}
schema:
  - {name: event_id, type: string}
  - {name: price, type: float64, default: "0"}
outputs:
  - name: events
    firehose: {delivery_stream: clicks-events}
`

func noEnv(string) (string, bool) { return "", false }

func TestParseAppliesDefaults(t *testing.T) {
	cfg, err := Parse([]byte(validYAML), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Source
	if s.InitialPosition != "TRIM_HORIZON" || s.Checkpoints.Type != "redis" || s.Checkpoints.Table != "shardflow-clicks" ||
		s.LeaseDuration.D() != DefaultLeaseDuration || s.MaxRecords != DefaultMaxRecords {
		t.Fatalf("source defaults not applied: %+v", s)
	}
	f := cfg.Outputs[0].Firehose
	if f.Format != "ndjson" || f.Linger.D() != DefaultFirehoseLinger || f.MaxInFlight != DefaultFirehoseMaxInFlight {
		t.Fatalf("firehose defaults not applied: %+v", f)
	}
	if cfg.DeadLetter.File != "dead-letter/clicks.ndjson" || cfg.ShutdownTimeout.D() != 25*time.Second {
		t.Fatalf("dead letter / shutdown defaults: %+v %s", cfg.DeadLetter, cfg.ShutdownTimeout.D())
	}
	if cfg.AWS.Endpoints.Kinesis != "" {
		t.Fatalf("${KIN:-} with KIN unset gave %q, want empty", cfg.AWS.Endpoints.Kinesis)
	}
}

func TestParseInterpolatesEnvironment(t *testing.T) {
	env := map[string]string{"KIN": "http://127.0.0.1:4567"}
	cfg, err := Parse([]byte(validYAML), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AWS.Endpoints.Kinesis != "http://127.0.0.1:4567" {
		t.Fatalf("kinesis endpoint = %q", cfg.AWS.Endpoints.Kinesis)
	}
	_, err = Parse([]byte(strings.Replace(validYAML, "${KIN:-}", "${NOPE}", 1)), noEnv)
	if err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Fatalf("unset ${NOPE}: err = %v", err)
	}
}

func TestParseRejectsUnknownKeysAndBadDurations(t *testing.T) {
	if _, err := Parse([]byte(validYAML+"\nshutdown_timout: 5s\n"), noEnv); err == nil || !strings.Contains(err.Error(), "shutdown_timout") {
		t.Fatalf("misspelled key: err = %v", err)
	}
	if _, err := Parse([]byte(validYAML+"\nshutdown_timeout: soon\n"), noEnv); err == nil || !strings.Contains(err.Error(), "not a duration") {
		t.Fatalf("bad duration: err = %v", err)
	}
}

func TestValidateReportsAllProblemsAtOnce(t *testing.T) {
	_, err := Parse([]byte("name: x\nsource: {stream: ''}\n"), noEnv)
	if err == nil {
		t.Fatal("empty config accepted")
	}
	for _, p := range []string{"source.stream:", "schema:", "outputs:"} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error lacks %s:\n%v", p, err)
		}
	}
}

// A password never appears in a config error, whether written in the file
// (rejected) or in a URL that does not parse.
func TestConfigErrorsNeverShowPasswords(t *testing.T) {
	for _, url := range []string{"redis://:hunter2@127.0.0.1:6379/0", "redis://:hunter2@127.0.0.1:notaport/0", "rediss://u:hunter2@[::1"} {
		y := strings.Replace(validYAML, "redis://127.0.0.1:6379/0", url, 1)
		_, err := Parse([]byte(y), noEnv)
		if err == nil {
			t.Fatalf("%s accepted", url)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("error shows the password: %v", err)
		}
	}
	env := map[string]string{"PW": "hunter2"}
	y := strings.Replace(validYAML, "redis://127.0.0.1:6379/0", "redis://:${PW}@127.0.0.1:notaport/0", 1)
	_, err := Parse([]byte(y), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad URL with a password from the environment: err = %v", err)
	}
}

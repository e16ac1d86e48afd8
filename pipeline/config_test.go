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

// windowYAML is a windows: block with the given kind and one aggregate.
func windowYAML(kind, agg string) string {
	return "windows:\n  - {name: w, time_column: ts, " + kind + ", late_rows: drop, aggregates: [" + agg +
		"], output: {firehose: {delivery_stream: w-out}}}\n"
}

// Each bad config must be rejected with an error naming the field path.
func TestValidateNamesFieldPaths(t *testing.T) {
	cases := []struct {
		name, from, to, wantPath string
	}{
		{"bad pipeline name", "name: clicks", "name: 'clicks!'", "name:"},
		{"missing stream", "source: {stream: clicks}", "source: {}", "source.stream:"},
		{"bad position", "source: {stream: clicks}", "source: {stream: clicks, initial_position: OLDEST}", "source.initial_position:"},
		{"short lease", "source: {stream: clicks}", "source: {stream: clicks, lease_duration: 10ms}", "source.lease_duration:"},
		{"max records", "source: {stream: clicks}", "source: {stream: clicks, max_records: 20000}", "source.max_records:"},
		{"checkpoint store", "source: {stream: clicks}", "source: {stream: clicks, checkpoints: {type: zookeeper}}", "source.checkpoints.type:"},
		{"redis store needs redis", `redis: {url: "redis://127.0.0.1:6379/0"}`, "", "redis:"},
		{"at timestamp", "source: {stream: clicks}", "source: {stream: clicks, initial_position: AT_TIMESTAMP, at_timestamp: yesterday}", "source.at_timestamp:"},
		{"bad field type", "type: float64,", "type: money,", "schema[1].type"},
		{"no outputs", "outputs:\n  - name: events\n    firehose: {delivery_stream: clicks-events}", "outputs: []", "outputs:"},
		{"no output kind", "    firehose: {delivery_stream: clicks-events}", "", "outputs[0]:"},
		{"bad delivery stream", "delivery_stream: clicks-events", "delivery_stream: 'a b'", "outputs[0].firehose.delivery_stream:"},
		{"bad format", "delivery_stream: clicks-events", "delivery_stream: x, format: xml", "outputs[0].firehose.format:"},
		{"csv is a format", "delivery_stream: clicks-events", "delivery_stream: x, format: csv", ""},
		{"in flight", "delivery_stream: clicks-events", "delivery_stream: x, max_in_flight: 0", ""},
		{"rows per record", "delivery_stream: clicks-events", "delivery_stream: x, max_rows_per_record: -1", "outputs[0].firehose.max_rows_per_record:"},
		{"s3 roll records", "    firehose: {delivery_stream: clicks-events}", "    s3: {bucket: b, roll_records: -5}", "outputs[0].s3.roll_records:"},
		{"s3 ok", "    firehose: {delivery_stream: clicks-events}", "    s3: {bucket: b, roll_records: 500}", ""},
		{"both dead letters", "outputs:", "dead_letter: {file: x, stdout: true}\noutputs:", "dead_letter:"},
		{"literal redis password", `redis: {url: "redis://127.0.0.1:6379/0"}`, `redis: {url: "redis://:hunter2@127.0.0.1:6379/0"}`, "redis.url: holds a literal password"},
		{"redis password from env", `redis: {url: "redis://127.0.0.1:6379/0"}`, `redis: {url: "redis://:${PW:-}@127.0.0.1:6379/0"}`, ""},
		{"literal redis.password", `redis: {url: "redis://127.0.0.1:6379/0"}`, `redis: {url: "redis://127.0.0.1:6379/0", password: hunter2}`, "redis.password: is a literal"},
		{"bad redis url", `redis: {url: "redis://127.0.0.1:6379/0"}`, `redis: {url: "http://x"}`, "redis.url: is not a valid"},
		{"window ok", "outputs:", windowYAML("tumbling: 1m", "{name: n, fn: count}") + "outputs:", ""},
		{"window only", "outputs:\n  - name: events\n    firehose: {delivery_stream: clicks-events}",
			windowYAML("session: {gap: 30s}", "{name: n, fn: count}"), ""},
		{"window two kinds", "outputs:", windowYAML("tumbling: 1m, session: {gap: 30s}", "{name: n, fn: count}") + "outputs:", "windows[0]: must set exactly one of tumbling, hopping, session"},
		{"window hopping slide", "outputs:", windowYAML("hopping: {size: 1m, slide: 7s}", "{name: n, fn: count}") + "outputs:", "windows[0]: size 1m0s must be a multiple of slide 7s"},
		{"window bad fn", "outputs:", windowYAML("tumbling: 1m", "{name: n, fn: median, column: price}") + "outputs:", "windows[0]: aggregates[0].fn \"median\""},
		{"window sum needs column", "outputs:", windowYAML("tumbling: 1m", "{name: n, fn: sum}") + "outputs:", "windows[0]: aggregates[0]: sum needs a column"},
		{"window idle below lease", "outputs:", windowYAML("tumbling: 1m, idle_timeout: 5s", "{name: n, fn: count}") + "outputs:", "windows[0].idle_timeout: must exceed source.lease_duration"},
		{"window emitted retention below 1s", "outputs:", windowYAML("tumbling: 1m, emitted_retention: 100ms", "{name: n, fn: count}") + "outputs:", "windows[0].emitted_retention: must be at least 1s"},
		{"window late policy", "outputs:", strings.Replace(windowYAML("tumbling: 1m", "{name: n, fn: count}"), "late_rows: drop", "late_rows: keep", 1) + "outputs:", "windows[0]: late_rows \"keep\""},
		{"window output name clash", "outputs:", strings.Replace(windowYAML("tumbling: 1m", "{name: n, fn: count}"), "name: w", "name: events", 1) + "outputs:", "windows[0].output.name: \"events\" is already the name of outputs[0]"},
		{"window output kind", "outputs:", strings.Replace(windowYAML("tumbling: 1m", "{name: n, fn: count}"), "firehose: {delivery_stream: w-out}", "name: x", 1) + "outputs:", "windows[0].output: must set exactly one output kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(validYAML, c.from, c.to, 1)
			if y == validYAML {
				t.Fatalf("replacement %q not found", c.from)
			}
			_, err := Parse([]byte(y), noEnv)
			if c.wantPath == "" { // accepted configs
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantPath) {
				t.Fatalf("err = %v, want one naming %q", err, c.wantPath)
			}
		})
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

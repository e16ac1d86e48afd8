package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// baseYAML is a valid pipeline using every stage kind. Endpoints and the
// Redis URL come from the environment with fallbacks, so that the same
// text is planned offline here and built against the local stack by
// TestValidateAndRunAgree. TABLE and DEAD are set by planEnv.
const baseYAML = `# shardflow test pipeline
name: t
aws:
  region: ${AWS_REGION:-us-east-1}
  endpoints:
    kinesis: ${SHARDFLOW_KINESIS_ENDPOINT:-}
    dynamodb: ${SHARDFLOW_DYNAMODB_ENDPOINT:-}
    firehose: ${SHARDFLOW_FIREHOSE_ENDPOINT:-}
    s3: ${SHARDFLOW_S3_ENDPOINT:-}
redis:
  url: ${SHARDFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}
  key_prefix: ${KEY_PREFIX:-sf}
source:
  stream: clicks
  lease_duration: 4s
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64, default: "0"}
transforms:
  - static_table: {file: "${TABLE}", key: "{country}", fields: [{from: region, type: string}]}
  - derive: {name: price_cents, type: float64, expr: "price * 100"}
  - filter: {expr: 'country != "XX"'}
outputs:
  - name: events
    firehose: {delivery_stream: events, linger: 100ms}
  - name: lake
    s3: {bucket: "${SHARDFLOW_S3_BUCKET:-lake}", prefix: lake/, partition_by: "event:ts", roll_interval: 1m}
windows:
  - name: per_country
    time_column: ts
    tumbling: 1m
    group_by: [country]
    aggregates:
      - {name: clicks, fn: count}
      - {name: revenue, fn: sum, column: price}
    idle_timeout: 15s
    output: {firehose: {delivery_stream: per-country}}
dead_letter: {file: "${DEAD}"}
ops: {listen: "127.0.0.1:0"}
`

// planEnv writes the static table and returns a lookup with TABLE, DEAD
// and the given variables (and nothing else).
func planEnv(t *testing.T, vars map[string]string) func(string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	table := filepath.Join(dir, "countries.csv")
	if err := os.WriteFile(table, []byte("country,region\nDE,EU\nUS,NA\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TABLE": table, "DEAD": filepath.Join(dir, "dead", "t.ndjson")}
	for k, v := range vars {
		env[k] = v
	}
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// edit is a replacement of old by new in baseYAML (old must occur).
type edit struct{ old, new string }

// want is one expected problem: its exact path and message, and where it
// is when line is not 0.
type want struct {
	path, msg    string
	line, column int
}

// configCase is one config of the table: baseYAML with edits; want nil
// means the config is valid.
type configCase struct {
	name  string
	edits []edit
	vars  map[string]string
	want  []want
	check func(t *testing.T, cfg *Config) // for valid configs
}

func (c configCase) yaml(t *testing.T) string {
	t.Helper()
	y := baseYAML
	for _, e := range c.edits {
		if !strings.Contains(y, e.old) {
			t.Fatalf("edit %q: not in the base config", e.old)
		}
		y = strings.Replace(y, e.old, e.new, 1)
	}
	return y
}

const windowAggs = `    aggregates:
      - {name: clicks, fn: count}
      - {name: revenue, fn: sum, column: price}`

// configCases are the broken configs (every mistake of issue 14 and more)
// and valid variants around them.
var configCases = []configCase{
	{name: "base is valid"},

	// Expressions.
	{name: "derive syntax error", edits: []edit{{`expr: "price * 100"`, `expr: "price * "`}},
		want: []want{{"transforms[1].derive.expr", `the expression ends too early at column 8 of "price * "`, 24, 62}}},
	{name: "filter on an unknown column", edits: []edit{{`country != "XX"`, `contry != "XX"`}},
		want: []want{{"transforms[2].filter.expr", `unknown name "contry" (did you mean "country"?)`, 25, 21}}},
	{name: "derive result of the wrong type", edits: []edit{{`expr: "price * 100"`, `expr: "country"`}},
		want: []want{{path: "transforms[1].derive.expr", msg: "expression is of type string, want float64"}}},
	{name: "filter that is not boolean", edits: []edit{{`country != "XX"`, `price`}},
		want: []want{{path: "transforms[2].filter.expr", msg: "expression is of type float64, want bool"}}},
	{name: "derive over an existing column", edits: []edit{{`name: price_cents`, `name: price`}},
		want: []want{{path: "transforms[1].derive.name", msg: `column "price" already exists; choose another name`}}},
	{name: "derive of an unknown type", edits: []edit{{`name: price_cents, type: float64`, `name: price_cents, type: decimal`}},
		want: []want{{path: "transforms[1].derive.type", msg: `"decimal" is not one of string, int64, float64, bool, timestamp`}}},
	{name: "a later stage reads a derived column", edits: []edit{{`country != "XX"`, `price_cents > 0`}}},

	// Lookups.
	{name: "redis lookup with four mistakes", edits: []edit{{`  - derive: {name: price_cents`,
		"  - redis_lookup: {key: \"user:{usr_id}\", source: hashmap, on_miss: ignore}\n  - derive: {name: price_cents"}},
		want: []want{
			{path: "transforms[1].redis_lookup.key", msg: `unknown column "usr_id" in "user:{usr_id}" (did you mean "user_id"?)`},
			{path: "transforms[1].redis_lookup.source", msg: `"hashmap" is not one of hash, json (did you mean "hash"?)`},
			{path: "transforms[1].redis_lookup.fields", msg: "is required (The values appended as columns)"},
			{path: "transforms[1].redis_lookup.on_miss", msg: `"ignore" is not one of null, default, drop, dead_letter`},
		}},
	{name: "redis lookup with an explicit cache_size 0", edits: []edit{{`  - derive: {name: price_cents`,
		"  - redis_lookup: {key: \"user:{user_id}\", fields: [{from: plan, type: string}], cache_size: 0}\n  - derive: {name: price_cents"}},
		want: []want{{path: "transforms[1].redis_lookup.cache_size", msg: "must not be 0: omit it for 100000, or write -1 to disable the cache"}}},
	{name: "redis lookup of JSON values", edits: []edit{{`  - derive: {name: price_cents`,
		"  - redis_lookup: {key: \"user:{user_id}\", source: json, fields: [{from: plan, type: string, default: free}], on_miss: default}\n  - derive: {name: price_cents"}}},
	{name: "redis lookup without redis", edits: []edit{
		{"  url: ${SHARDFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}\n", ""},
		{"source:\n  stream: clicks\n", "source:\n  stream: clicks\n  checkpoints: {type: dynamodb}\n"},
		{`  - derive: {name: price_cents`, "  - redis_lookup: {key: \"user:{user_id}\", fields: [{from: plan, type: string}]}\n  - derive: {name: price_cents"}},
		want: []want{
			{path: "transforms[1].redis_lookup", msg: "needs redis.url or redis.cluster_addrs"},
			{path: "windows[0]", msg: "needs redis.url or redis.cluster_addrs (window state lives in Redis)"},
		}},
	{name: "static table file missing", vars: map[string]string{"TABLE": "/nonexistent/countries.csv"},
		want: []want{{path: "transforms[0].static_table.file", msg: "open /nonexistent/countries.csv: no such file or directory"}}},
	{name: "static table column missing from the file", edits: []edit{{`fields: [{from: region, type: string}]`, `fields: [{from: regio, type: string}]`}},
		want: []want{{path: "transforms[0].static_table.fields[0].from", msg: `column "regio" is not in the header of ${TABLE} (did you mean "region"?) (its columns: country, region)`}}},
	{name: "static table key column unknown", edits: []edit{{`key: "{country}"`, `key: "{county}"`}},
		want: []want{{path: "transforms[0].static_table.key", msg: `unknown column "county" in "{county}" (did you mean "country"?)`}}},
	{name: "static table of unknown format", vars: map[string]string{"TABLE": "countries.txt"},
		want: []want{{path: "transforms[0].static_table.format", msg: "countries.txt: cannot tell the format from the extension; say csv or json"}}},
	{name: "transform of two kinds", edits: []edit{{`  - filter: {expr: 'country != "XX"'}`, `  - {filter: {expr: 'country != "XX"'}, derive: {name: x, type: int64, expr: "1"}}`}},
		want: []want{{path: "transforms[2]", msg: "must set exactly one of redis_lookup, static_table, derive, filter, not derive and filter"}}},
	{name: "transform of no kind", edits: []edit{{`  - filter: {expr: 'country != "XX"'}`, `  - {}`}},
		want: []want{{path: "transforms[2]", msg: "must set exactly one of redis_lookup, static_table, derive, filter"}}},

	// Windows.
	{name: "window with three mistakes at once", edits: []edit{{"    time_column: ts\n    tumbling: 1m\n    group_by: [country]\n" + windowAggs,
		"    time_column: tss\n    tumbling: 1m\n    group_by: [contry]\n    aggregates:\n      - {name: clicks, fn: count}\n      - {name: revenue, fn: sum, column: country}"}},
		want: []want{
			{path: "windows[0].time_column", msg: `column "tss" is not in the schema (did you mean "ts"?)`},
			{path: "windows[0].group_by[0]", msg: `column "contry" is not in the schema (did you mean "country"?)`},
			{path: "windows[0].aggregates[1].column", msg: `sum needs an int64 or float64 column; "country" is string (to count rows use fn: count; distinct values: count_distinct)`},
		}},
	{name: "window time column of the wrong type", edits: []edit{{"    time_column: ts\n", "    time_column: price\n"}},
		want: []want{{path: "windows[0].time_column", msg: `column "price" is float64, want a timestamp column (timestamp columns: ts)`}}},
	{name: "window of two kinds", edits: []edit{{"    tumbling: 1m\n", "    tumbling: 1m\n    session: {gap: 30s}\n"}},
		want: []want{{path: "windows[0]", msg: "must set exactly one of tumbling, hopping, session, not tumbling and session"}}},
	{name: "window of no kind", edits: []edit{{"    tumbling: 1m\n", ""}},
		want: []want{{path: "windows[0]", msg: "must set exactly one of tumbling, hopping, session"}}},
	{name: "explicit tumbling 0s", edits: []edit{{"    tumbling: 1m\n", "    tumbling: 0s\n"}},
		want: []want{{path: "windows[0].tumbling", msg: "must be positive, got 0s"}}},
	{name: "hopping size not a multiple of slide", edits: []edit{{"    tumbling: 1m\n", "    hopping: {size: 1m, slide: 7s}\n"}},
		want: []want{{path: "windows[0].hopping.slide", msg: "the size 1m0s must be a multiple of the slide 7s (e.g. slide 6s)"}}},
	{name: "hopping windows", edits: []edit{{"    tumbling: 1m\n", "    hopping: {size: 1m, slide: 20s}\n"}}},
	{name: "session windows dropping late rows", edits: []edit{{"    tumbling: 1m\n", "    session: {gap: 30s}\n    late_rows: drop\n"}}},
	{name: "late rows update of a session window", edits: []edit{{"    tumbling: 1m\n", "    session: {gap: 30s}\n    late_rows: update\n"}},
		want: []want{{path: "windows[0].late_rows", msg: "update is for tumbling and hopping windows (a late row of a session window starts a new session); use drop or dead_letter"}}},
	{name: "unknown late rows policy", edits: []edit{{"    idle_timeout: 15s\n", "    idle_timeout: 15s\n    late_rows: dead_leter\n"}},
		want: []want{{path: "windows[0].late_rows", msg: `"dead_leter" is not one of dead_letter, drop, update (did you mean "dead_letter"?)`}}},
	{name: "unknown aggregate function", edits: []edit{{"{name: clicks, fn: count}", "{name: clicks, fn: median, column: price}"}},
		want: []want{{path: "windows[0].aggregates[0].fn", msg: `"median" is not one of count, sum, min, max, avg, count_distinct, first, last`}}},
	{name: "aggregate named like a group column", edits: []edit{{"{name: clicks, fn: count}", "{name: country, fn: count}"}},
		want: []want{{path: "windows[0].aggregates[0].name", msg: `"country" is already a group_by column; choose another name`}}},
	{name: "sum without a column", edits: []edit{{"{name: revenue, fn: sum, column: price}", "{name: revenue, fn: sum}"}},
		want: []want{{path: "windows[0].aggregates[1].column", msg: "is required by sum"}}},
	{name: "window without aggregates", edits: []edit{{windowAggs + "\n", ""}},
		want: []want{{path: "windows[0].aggregates", msg: "is required (The result columns)"}}},
	{name: "idle timeout below the lease duration", edits: []edit{{"    idle_timeout: 15s\n", "    idle_timeout: 3s\n"}},
		want: []want{{path: "windows[0].idle_timeout", msg: "must exceed source.lease_duration (4s), got 3s: a crashed worker's shards look idle until a new owner takes their lease, and rows read after that would be late"}}},
	{name: "idle timeout below twice the read interval", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  idle_time_between_reads: 10s\n"}},
		want: []want{{path: "windows[0].idle_timeout", msg: "must be at least twice source.idle_time_between_reads (10s), got 15s: a caught-up shard is read only that often, and a shard not read for idle_timeout holds the watermark as stalled"}}},
	{name: "explicit flush_interval 0s", edits: []edit{{"    idle_timeout: 15s\n", "    idle_timeout: 15s\n    flush_interval: 0s\n"}},
		want: []want{{path: "windows[0].flush_interval", msg: `must be positive: 0 is not "flush every batch" (a shard flushes every half of source.max_in_flight_batches anyway); omit it for 1s`}}},
	{name: "explicit max_out_of_orderness 0s is honoured", edits: []edit{{"    idle_timeout: 15s\n", "    idle_timeout: 15s\n    max_out_of_orderness: 0s\n"}},
		check: func(t *testing.T, cfg *Config) {
			if d := cfg.Windows[0].MaxOutOfOrderness.D(); d != 0 {
				t.Errorf("max_out_of_orderness: 0s became %s", d)
			}
		}},
	{name: "absent max_out_of_orderness is the default", check: func(t *testing.T, cfg *Config) {
		if d := cfg.Windows[0].MaxOutOfOrderness.D(); d != 5*time.Second {
			t.Errorf("max_out_of_orderness default = %s, want 5s", d)
		}
	}},

	// Outputs.
	{name: "s3 partition by an unknown column", edits: []edit{{`partition_by: "event:ts"`, `partition_by: "event:nope"`}},
		want: []want{{path: "outputs[1].s3.partition_by", msg: `"event:nope": no column "nope"; the timestamp columns here are ts`}}},
	{name: "s3 negative roll interval", edits: []edit{{`roll_interval: 1m`, `roll_interval: -1m`}},
		want: []want{{path: "outputs[1].s3.roll_interval", msg: "must be positive, got -1m0s"}}},
	{name: "s3 explicit roll_bytes 0", edits: []edit{{`roll_interval: 1m`, `roll_interval: 1m, roll_bytes: 0`}},
		want: []want{{path: "outputs[1].s3.roll_bytes", msg: "must be positive; omit it for 134217728 (128 MiB)"}}},
	{name: "s3 unknown compression", edits: []edit{{`roll_interval: 1m`, `roll_interval: 1m, compression: lz4`}},
		want: []want{{path: "outputs[1].s3.compression", msg: `"lz4" is not one of snappy, zstd, none`}}},
	{name: "firehose explicit linger 0s is honoured", edits: []edit{{`linger: 100ms`, `linger: 0s`}},
		check: func(t *testing.T, cfg *Config) {
			if d := cfg.Outputs[0].Firehose.Linger.D(); d != 0 {
				t.Errorf("linger: 0s became %s", d)
			}
			if d := cfg.Windows[0].Output.Firehose.Linger.D(); d != DefaultFirehoseLinger {
				t.Errorf("absent linger = %s, want the default", d)
			}
		}},
	{name: "firehose explicit max_in_flight 0", edits: []edit{{`linger: 100ms`, `linger: 100ms, max_in_flight: 0`}},
		want: []want{{path: "outputs[0].firehose.max_in_flight", msg: "must be 1..64, got 0"}}},
	{name: "firehose negative max_rows_per_record", edits: []edit{{`linger: 100ms`, `linger: 100ms, max_rows_per_record: -1`}},
		want: []want{{path: "outputs[0].firehose.max_rows_per_record", msg: "must be >= 0 (0: no cap), got -1"}}},
	{name: "firehose unknown format", edits: []edit{{`linger: 100ms`, `linger: 100ms, format: xml`}},
		want: []want{{path: "outputs[0].firehose.format", msg: `"xml" is not one of ndjson, csv`}}},
	{name: "firehose CSV", edits: []edit{{`linger: 100ms`, `linger: 100ms, format: csv`}}},
	{name: "output of no kind", edits: []edit{{"    firehose: {delivery_stream: events, linger: 100ms}\n", ""}},
		want: []want{{path: "outputs[0]", msg: "must set exactly one of firehose, s3"}}},
	{name: "output of two kinds", edits: []edit{{"    firehose: {delivery_stream: events, linger: 100ms}\n", "    firehose: {delivery_stream: events}\n    s3: {bucket: b}\n"}},
		want: []want{{path: "outputs[0]", msg: "must set exactly one of firehose, s3, not firehose and s3"}}},
	{name: "window output named like an output", edits: []edit{{"  - name: per_country\n", "  - name: events\n"}},
		want: []want{{path: "windows[0].output.name", msg: `"events" is already the name of outputs[0]; output names must be unique`}}},
	{name: "no outputs at all", edits: []edit{{"outputs:\n  - name: events\n    firehose: {delivery_stream: events, linger: 100ms}\n  - name: lake\n    s3: {bucket: \"${SHARDFLOW_S3_BUCKET:-lake}\", prefix: lake/, partition_by: \"event:ts\", roll_interval: 1m}\n", ""},
		{"windows:\n", "windows: []\nwas_windows:\n"}},
		want: []want{
			{path: "was_windows", msg: "unknown key (did you mean \"windows\"?); the keys here are name, aws, redis, source, schema, transforms, outputs, windows, dead_letter, shutdown_timeout, ops, progress_log_interval"},
			{path: "outputs", msg: "must have at least one output (or a window with its output)"},
		}},

	// Source.
	{name: "unknown source key", edits: []edit{{"  stream: clicks\n", "  stream_name: clicks\n"}},
		want: []want{
			{"source.stream_name", `unknown key (did you mean "stream"?); the keys in source are stream, initial_position, at_timestamp, max_leases, balance, lease_stealing, checkpoints, lease_duration, shard_sync_interval, health_grace, max_records, idle_time_between_reads, max_in_flight_batches, checkpoint_interval, format, csv, regex, timezone`, 14, 3},
			{path: "source.stream", msg: "is required (Kinesis stream name)"},
		}},
	{name: "integer that is not", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  max_records: lots\n"}},
		want: []want{{path: "source.max_records", msg: `must be an integer, got "lots"`}}},
	{name: "duration that is not", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: soon\n"}},
		want: []want{{"source.lease_duration", `"soon" is not a duration (e.g. 500ms, 10s, 5m, 1h)`, 15, 19}}},
	{name: "duration without a unit", edits: []edit{{`linger: 100ms`, `linger: 100`}},
		want: []want{{path: "outputs[0].firehose.linger", msg: `"100" is not a duration (add a unit: 100s, 100ms, ...)`}}},
	{name: "explicit checkpoint_interval 0s is honoured", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  checkpoint_interval: 0s\n"}},
		check: func(t *testing.T, cfg *Config) {
			if d := cfg.Source.CheckpointInterval.D(); d != 0 {
				t.Errorf("checkpoint_interval: 0s became %s", d)
			}
		}},
	{name: "explicit idle_time_between_reads 0s", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  idle_time_between_reads: 0s\n"}},
		want: []want{{path: "source.idle_time_between_reads", msg: "must be positive: 0 would poll an empty shard in a tight loop (Kinesis allows 5 reads per second per shard); omit it for 500ms"}}},
	{name: "bad initial position", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  initial_position: OLDEST\n"}},
		want: []want{{path: "source.initial_position", msg: `"OLDEST" is not one of TRIM_HORIZON, LATEST, AT_TIMESTAMP`}}},
	{name: "bad at_timestamp", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  initial_position: AT_TIMESTAMP\n  at_timestamp: yesterday\n"}},
		want: []want{{path: "source.at_timestamp", msg: `must be an RFC 3339 time with AT_TIMESTAMP (e.g. 2026-11-22T06:00:00Z), got "yesterday"`}}},
	{name: "DynamoDB leases", edits: []edit{{"source:\n  stream: clicks\n", "source:\n  stream: clicks\n  checkpoints: {type: dynamodb}\n"}}},

	// Schema.
	{name: "schema type typo", edits: []edit{{"{name: user_id, type: string}", "{name: user_id, type: strng}"}},
		want: []want{{path: "schema[1].type", msg: `"strng" is not one of string, int64, float64, bool, timestamp (did you mean "string"?)`}}},
	{name: "a broken column is not reported again by the stages that read it", edits: []edit{{`{name: price, type: float64, default: "0"}`, `{name: price, type: money, default: "0"}`}},
		want: []want{{path: "schema[4].type", msg: `"money" is not one of string, int64, float64, bool, timestamp`}}},
	{name: "schema as a mapping", edits: []edit{{"schema:\n  - {name: event_id, type: string}\n", "schema:\n  event_id: string\n"},
		{"  - {name: user_id, type: string}\n  - {name: country, type: string}\n  - {name: ts, type: timestamp}\n  - {name: price, type: float64, default: \"0\"}\n", ""}},
		want: []want{{path: "schema", msg: "must be a list, got a mapping"}}},
	{name: "duplicate column", edits: []edit{{"{name: user_id, type: string}", "{name: event_id, type: string}"}},
		want: []want{{path: "schema[1].name", msg: `duplicate name "event_id" (also schema[0])`}}},

	// Document level, names, secrets, variables.
	{name: "misspelt top-level key", edits: []edit{{"ops: {listen:", "shutdown_timout: 5s\nops: {listen:"}},
		want: []want{{"shutdown_timout", `unknown key (did you mean "shutdown_timeout"?); the keys here are name, aws, redis, source, schema, transforms, outputs, windows, dead_letter, shutdown_timeout, ops, progress_log_interval`, 42, 1}}},
	{name: "key set twice", edits: []edit{{"  lease_duration: 4s\n", "  lease_duration: 4s\n  lease_duration: 5s\n"}},
		want: []want{{"source.lease_duration", "is set twice (first on line 15); remove one", 16, 3}}},
	{name: "bad pipeline name", edits: []edit{{"name: t\n", "name: 't!'\n"}},
		want: []want{{path: "name", msg: `must be 1-64 characters of [a-zA-Z0-9_.-], got "t!"`}}},
	{name: "literal password in the redis url", edits: []edit{{"${SHARDFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}", "redis://:hunter2@127.0.0.1:6379/0"}},
		want: []want{{path: "redis.url", msg: "holds a literal password; take it from the environment, e.g. rediss://:${REDIS_AUTH_TOKEN}@host:6379 (on ECS, a task-definition secret from Secrets Manager)"}}},
	{name: "literal password as a default", edits: []edit{{"${SHARDFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}", "${SHARDFLOW_REDIS_URL:-redis://:hunter2@127.0.0.1:6379/0}"}},
		want: []want{{path: "redis.url", msg: "the default after :- holds a literal password; a default must not carry a secret: write rediss://:${REDIS_AUTH_TOKEN}@host:6379 and set the variable"}}},
	{name: "password from the environment", edits: []edit{{"${SHARDFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}", "redis://:${PW:-}@127.0.0.1:6379/0"}}},
	{name: "literal redis.password", edits: []edit{{"  key_prefix:", "  password: hunter2\n  key_prefix:"}},
		want: []want{{path: "redis.password", msg: "is a literal; take it from the environment, e.g. ${REDIS_AUTH_TOKEN} (on ECS, a task-definition secret from Secrets Manager)"}}},
	{name: "redis.password with a literal default", edits: []edit{{"  key_prefix:", "  password: ${PW:-hunter2}\n  key_prefix:"}},
		want: []want{{path: "redis.password", msg: "the default after :- is a literal password; write ${REDIS_AUTH_TOKEN} without a default and set the variable"}}},
	{name: "unset variable", edits: []edit{{"  stream: clicks\n", "  stream: ${STREAM}\n"}},
		want: []want{{"source.stream", "environment variable STREAM is not set (write ${STREAM:-default} for an optional value)", 14, 11}}},
	{name: "a variable named in a comment need not be set", edits: []edit{{"  stream: clicks\n", "  stream: clicks   # or ${STREAM}, once it exists\n"}}},
	{name: "a variable holding YAML stays one value", edits: []edit{{"  stream: clicks\n", "  stream: ${STREAM}\n"}},
		vars: map[string]string{"STREAM": "clicks\n  max_records: 1\nbogus: true"},
		want: []want{{path: "source.stream", msg: "must be a Kinesis stream name (1-64 of [a-zA-Z0-9_.-]), got \"clicks\\n  max_records: 1\\nbogus: true\""}}},
	{name: "dead letter to both a file and stdout", edits: []edit{{`dead_letter: {file: "${DEAD}"}`, `dead_letter: {file: "${DEAD}", stdout: true}`}},
		want: []want{{path: "dead_letter", msg: "set one of file, stdout, firehose, not file and stdout"}}},
	{name: "dead letter to stdout", edits: []edit{{`dead_letter: {file: "${DEAD}"}`, `dead_letter: {stdout: true}`}}},
	{name: "not YAML", edits: []edit{{"  - {name: event_id, type: string}\n", "  - {name: event_id, type: string\n"}},
		want: []want{{"", "not valid YAML: did not find expected ',' or '}': a {...} or [...] that starts on this line is not closed", 17, 1}}},
	{name: "two documents", edits: []edit{{"ops: {listen:", "---\nops: {listen:"}},
		want: []want{{"", "a pipeline file holds one YAML document; remove the second (after ---)", 42, 1}}},
}

// TestBrokenConfigsNameTheirProblems: every broken config of the table is
// rejected with exactly the expected problems (path and message, and
// position where given): no more, no fewer; every valid one is accepted.
func TestBrokenConfigsNameTheirProblems(t *testing.T) {
	broken := 0
	for _, c := range configCases {
		if c.want != nil {
			broken++
		}
		t.Run(c.name, func(t *testing.T) {
			lookup := planEnv(t, c.vars)
			cfg, err := Decode([]byte(c.yaml(t)), lookup)
			if err == nil {
				_, err = Plan(cfg)
			}
			if c.want == nil {
				if err != nil {
					t.Fatalf("valid config rejected:\n%v", err)
				}
				if c.check != nil {
					c.check(t, cfg)
				}
				return
			}
			var probs *Problems
			if !errors.As(err, &probs) {
				t.Fatalf("err = %v, want *Problems", err)
			}
			table, _ := lookup("TABLE")
			got := map[string]*FieldError{}
			for _, e := range probs.List {
				got[e.Path+": "+e.Msg] = e
			}
			for _, w := range c.want {
				msg := strings.ReplaceAll(w.msg, "${TABLE}", table)
				e, ok := got[w.path+": "+msg]
				if !ok {
					t.Errorf("missing %s: %s\ngot:\n%v", w.path, msg, err)
					continue
				}
				if w.line != 0 && (e.Line != w.line || e.Column != w.column) {
					t.Errorf("%s is at %d:%d, want %d:%d", w.path, e.Line, e.Column, w.line, w.column)
				}
			}
			if len(probs.List) != len(c.want) {
				t.Errorf("%d problems, want %d:\n%v", len(probs.List), len(c.want), err)
			}
		})
	}
	if broken < 40 {
		t.Errorf("the table has %d broken configs, want at least 40", broken)
	}
}

package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	goredis "github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
)

// Config is one pipeline, as written in its YAML file.
type Config struct {
	// Name identifies the pipeline: KCL application name, lease table
	// default, metric and dead-letter label.
	Name   string         `yaml:"name"`
	AWS    AWSConfig      `yaml:"aws"`
	Redis  RedisConfig    `yaml:"redis"`
	Source SourceConfig   `yaml:"source"`
	Schema []decode.Field `yaml:"schema"`
	// Transforms run in order on every decoded batch.
	Transforms []TransformConfig `yaml:"transforms"`
	Outputs    []OutputConfig    `yaml:"outputs"`
	// Windows aggregate the transformed rows by event-time window; each
	// sends its result rows to its own output.
	Windows    []WindowConfig   `yaml:"windows"`
	DeadLetter DeadLetterConfig `yaml:"dead_letter"`
	// ShutdownTimeout bounds the drain on SIGTERM (ECS waits 30 s by default
	// before SIGKILL).
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Ops is the operations HTTP endpoint (/metrics, /healthz, /readyz).
	Ops OpsConfig `yaml:"ops"`
	// ProgressLogInterval is how often a "progress" line with the running
	// totals is logged (default 30s).
	ProgressLogInterval Duration `yaml:"progress_log_interval"`
}

// AWSConfig holds the region and optional endpoint overrides (for local
// stand-ins); empty endpoints use the SDK's defaults.
type AWSConfig struct {
	Region    string          `yaml:"region"`
	Endpoints EndpointsConfig `yaml:"endpoints"`
}

// EndpointsConfig overrides service endpoints.
type EndpointsConfig struct {
	Kinesis  string `yaml:"kinesis"`
	DynamoDB string `yaml:"dynamodb"`
	Firehose string `yaml:"firehose"`
	S3       string `yaml:"s3"`
}

// OpsConfig configures the operations endpoint.
type OpsConfig struct {
	// Listen is the address of /metrics, /healthz and /readyz (default
	// ":9090"); "off" disables the endpoint.
	Listen string `yaml:"listen"`
	// EMF, when set, also writes CloudWatch Embedded Metric Format lines
	// to stdout (the awslogs driver ships them; CloudWatch extracts the
	// metrics without an agent or PutMetricData).
	EMF *EMFConfig `yaml:"emf"`
}

// EMFConfig configures the CloudWatch EMF metrics lines.
type EMFConfig struct {
	// Namespace is the CloudWatch namespace (default "shardflow").
	Namespace string `yaml:"namespace"`
	// Interval between lines (default 1m).
	Interval Duration `yaml:"interval"`
}

// RedisConfig is the Redis shared by the lease store and, later, window
// state and enrichment. Either URL (one node or a primary) or ClusterAddrs
// (ElastiCache cluster mode) is used.
type RedisConfig struct {
	// URL is redis://[:password@]host:port/db or rediss:// (TLS). A
	// password must come from the environment (${REDIS_AUTH_TOKEN}), not
	// be written in the file.
	URL          string   `yaml:"url"`
	ClusterAddrs []string `yaml:"cluster_addrs"`
	// Password (AUTH token) for cluster_addrs, or to override the URL's;
	// from the environment only, like the URL's.
	Password string `yaml:"password"`
	// TLS connects to cluster_addrs over TLS (ElastiCache in-transit
	// encryption); for url, use rediss://.
	TLS bool `yaml:"tls"`
	// KeyPrefix namespaces every key shardflow writes ("sf" by default).
	KeyPrefix string `yaml:"key_prefix"`
}

// SourceConfig describes the Kinesis stream and how its shards are leased.
type SourceConfig struct {
	Stream string `yaml:"stream"`
	// InitialPosition applies to shards with no checkpoint yet:
	// TRIM_HORIZON (default), LATEST or AT_TIMESTAMP.
	InitialPosition string `yaml:"initial_position"`
	// AtTimestamp (RFC 3339) is the start for AT_TIMESTAMP.
	AtTimestamp string `yaml:"at_timestamp"`
	// MaxLeases caps the shards one worker holds (0: no cap).
	MaxLeases int `yaml:"max_leases"`
	// LeaseStealing lets workers take shards from busier workers so that
	// leases balance (within one) when workers join.
	LeaseStealing *bool `yaml:"lease_stealing"`
	// Checkpoints names the lease and checkpoint store.
	Checkpoints CheckpointsConfig `yaml:"checkpoints"`
	// LeaseDuration is how long a lease lasts without renewal before another
	// worker may take the shard.
	LeaseDuration Duration `yaml:"lease_duration"`
	// ShardSyncInterval is how often the worker looks for new shards and
	// free leases (the KCL takes at most one new lease per tick).
	ShardSyncInterval Duration `yaml:"shard_sync_interval"`
	// MaxRecords per GetRecords call (1..10000).
	MaxRecords int `yaml:"max_records"`
	// IdleTimeBetweenReads is the pause after an empty read.
	IdleTimeBetweenReads Duration `yaml:"idle_time_between_reads"`
	// MaxInFlightBatches per shard: batches handed to outputs but not yet
	// acked. Reading blocks when it is reached.
	MaxInFlightBatches int `yaml:"max_in_flight_batches"`
	// CheckpointInterval is the minimum time between checkpoint writes of a
	// shard.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// Format is how records are decoded: json (default), csv,
	// apache_combined, apache_common, apache_error, syslog, regex or
	// cloudwatch_logs; CSV, Regex and Timezone are options of the formats
	// that use them (see DecodeFormat).
	Format   string            `yaml:"format"`
	CSV      decode.CSVOptions `yaml:"csv"`
	Regex    string            `yaml:"regex"`
	Timezone string            `yaml:"timezone"`
}

// CheckpointsConfig selects the checkpoint store.
type CheckpointsConfig struct {
	// Type is "redis" (fenced leases, the default) or "dynamodb" (the
	// KCL's own lease table, whose checkpoint writes are not fenced).
	Type string `yaml:"type"`
	// Table is the DynamoDB lease table; default "shardflow-<name>".
	Table string `yaml:"table"`
}

// TransformConfig is one transform. Exactly one kind is set.
type TransformConfig struct {
	// RedisLookup joins values from Redis hashes or JSON values, one
	// pipelined round trip per batch for its cache-missing keys.
	RedisLookup *enrich.RedisOptions `yaml:"redis_lookup"`
	// StaticTable joins values from a CSV or JSON file (reloaded on SIGHUP).
	StaticTable *enrich.StaticOptions `yaml:"static_table"`
	// Derive appends a column computed by an expression over the row.
	Derive *transform.Derive `yaml:"derive"`
	// Filter keeps rows for which the expression is true.
	Filter *transform.Filter `yaml:"filter"`
}

// OutputConfig is one direct output. Exactly one kind is set.
type OutputConfig struct {
	Name     string          `yaml:"name"`
	Firehose *FirehoseConfig `yaml:"firehose"`
	S3       *S3Config       `yaml:"s3"`
}

// WindowConfig is one windowed aggregation (see processors/window).
// Exactly one of Tumbling, Hopping and Session is set.
type WindowConfig struct {
	// Name identifies the operator (Redis keys, row ids, metrics).
	Name string `yaml:"name"`
	// TimeColumn is the event-time column (a timestamp column).
	TimeColumn string `yaml:"time_column"`
	// Tumbling is the window size of back-to-back windows.
	Tumbling Duration `yaml:"tumbling"`
	// Hopping windows of Size start every Slide.
	Hopping *HoppingConfig `yaml:"hopping"`
	// Session windows: a group's rows less than Gap apart form a session.
	Session *SessionConfig `yaml:"session"`
	// GroupBy lists the group-key columns (may be empty).
	GroupBy []string `yaml:"group_by"`
	// Aggregates are the result columns: count, sum, min, max, avg,
	// count_distinct (approximate), first, last.
	Aggregates []window.Aggregate `yaml:"aggregates"`
	// MaxOutOfOrderness is how far event times may run behind the
	// largest seen in a shard (default 5s).
	MaxOutOfOrderness Duration `yaml:"max_out_of_orderness"`
	// AllowedLateness keeps windows open this much longer (default 0).
	AllowedLateness Duration `yaml:"allowed_lateness"`
	// IdleTimeout leaves a shard without rows for this long out of the
	// watermark (default 1m). Keep it above the lease takeover time.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// LateRows: dead_letter (default), drop, or update (apply to the
	// closed window and re-emit its changed rows with a higher revision);
	// counted in every case.
	LateRows string `yaml:"late_rows"`
	// UpdateHorizon (late_rows update): how long past a window's close, in
	// event time, late rows still update it (default 1h).
	UpdateHorizon Duration `yaml:"update_horizon"`
	// FlushInterval bounds how long rows wait before they are applied to
	// Redis (and so before their checkpoint may pass); default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
	// EmitInterval is how often the emitter looks for closed windows
	// (default 1s).
	EmitInterval Duration `yaml:"emit_interval"`
	// EmittedRetention is how long a window's deltas stay in Redis after
	// the window was emitted (default 10m; at least 1s). Nothing reads
	// them after emission (with late_rows update they stay until
	// update_horizon instead); they are kept for inspection. Lower it to
	// save Redis memory: see the README's window Redis notes.
	EmittedRetention Duration `yaml:"emitted_retention"`
	// Output receives the result rows (firehose or s3; name defaults to
	// the window's name).
	Output OutputConfig `yaml:"output"`
}

// SessionConfig is a session window.
type SessionConfig struct {
	Gap Duration `yaml:"gap"`
}

// HoppingConfig is a hopping window.
type HoppingConfig struct {
	Size  Duration `yaml:"size"`
	Slide Duration `yaml:"slide"`
}

// Options converts the config to the operator's options (without the
// runtime parts: schema, Redis, outputs).
func (w WindowConfig) Options(pipeline string) window.Options {
	o := window.Options{
		Pipeline: pipeline, Name: w.Name, TimeColumn: w.TimeColumn, Size: w.Tumbling.D(),
		GroupBy: w.GroupBy, Aggregates: w.Aggregates, MaxOutOfOrderness: w.MaxOutOfOrderness.D(),
		AllowedLateness: w.AllowedLateness.D(), IdleTimeout: w.IdleTimeout.D(),
		LateRows: window.LatePolicy(w.LateRows), UpdateHorizon: w.UpdateHorizon.D(), FlushInterval: w.FlushInterval.D(),
	}
	if w.Hopping != nil {
		o.Size, o.Slide = w.Hopping.Size.D(), w.Hopping.Slide.D()
	}
	if w.Session != nil {
		o.Size, o.Gap = 0, w.Session.Gap.D()
	}
	return o
}

// S3Config writes Parquet files straight to S3 under Hive-style keys
// <prefix>dt=YYYY-MM-DD/hr=HH/, for columnar files without Firehose format
// conversion.
type S3Config struct {
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// Compression: snappy (default), zstd or none.
	Compression string `yaml:"compression"`
	// RollBytes and RollInterval close a file (default 128 MiB, 5m).
	RollBytes    int64    `yaml:"roll_bytes"`
	RollInterval Duration `yaml:"roll_interval"`
	// PartitionBy: "arrival" (default) or "event:<timestamp column>".
	PartitionBy string `yaml:"partition_by"`
	// RetryTimeout bounds retries of a failing upload (default 5m).
	RetryTimeout Duration `yaml:"retry_timeout"`
}

// FirehoseConfig sends rows to a Firehose delivery stream.
type FirehoseConfig struct {
	DeliveryStream string `yaml:"delivery_stream"`
	// Format of each row: "ndjson" (S3, Athena, Redshift JSON 'auto') or
	// "csv" (Redshift COPY ... CSV).
	Format string `yaml:"format"`
	// Linger is how long a partly filled request waits for more rows.
	Linger Duration `yaml:"linger"`
	// MaxInFlight is the number of concurrent PutRecordBatch calls.
	MaxInFlight int `yaml:"max_in_flight"`
	// RetryTimeout bounds retries of records Firehose failed; past it the
	// output reports unhealthy and checkpoints stop advancing.
	RetryTimeout Duration `yaml:"retry_timeout"`
}

// DeadLetterConfig says where rejected input goes. Exactly one of File or
// Stdout; default is a file "dead-letter/<name>.ndjson".
type DeadLetterConfig struct {
	File   string `yaml:"file"`
	Stdout bool   `yaml:"stdout"`
	// Firehose sends envelopes (NDJSON) to a delivery stream.
	Firehose *DeadLetterFirehose `yaml:"firehose"`
}

// DeadLetterFirehose names the dead-letter delivery stream.
type DeadLetterFirehose struct {
	DeliveryStream string `yaml:"delivery_stream"`
}

// Duration is a time.Duration written as "250ms", "10s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 500ms, 10s, 5m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads, interpolates, parses, defaults and validates a pipeline file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline: read config: %w", err)
	}
	cfg, err := Parse(raw, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", path, err)
	}
	return cfg, nil
}

// Parse interpolates ${VAR} and ${VAR:-default} using lookup, decodes the
// YAML strictly (unknown keys are errors), applies defaults and validates.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	if err := checkNoLiteralSecrets(raw); err != nil {
		return nil, err
	}
	expanded, err := interpolate(raw, lookup)
	if err != nil {
		return nil, err
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// checkNoLiteralSecrets rejects a Redis password written in the file
// itself: secrets come from the environment (which ECS fills from Secrets
// Manager), so that pipeline files can be committed and shown.
func checkNoLiteralSecrets(raw []byte) error {
	var peek struct {
		Redis struct {
			URL      string `yaml:"url"`
			Password string `yaml:"password"`
		} `yaml:"redis"`
	}
	if yaml.Unmarshal(raw, &peek) != nil {
		return nil // the real parse reports it
	}
	literal := func(s string) bool { return s != "" && !envRef.MatchString(s) }
	var errs []error
	if _, rest, ok := strings.Cut(peek.Redis.URL, "://"); ok {
		if userinfo, _, ok := strings.Cut(rest, "@"); ok {
			if _, pw, ok := strings.Cut(userinfo, ":"); ok && literal(pw) {
				errs = append(errs, &FieldError{Path: "redis.url", Msg: "holds a literal password; take it from the environment, e.g. rediss://:${REDIS_AUTH_TOKEN}@host:6379 (on ECS, a task-definition secret from Secrets Manager)"})
			}
		}
	}
	if literal(peek.Redis.Password) {
		errs = append(errs, &FieldError{Path: "redis.password", Msg: "is a literal; take it from the environment, e.g. ${REDIS_AUTH_TOKEN}"})
	}
	return errors.Join(errs...)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// interpolate replaces ${VAR} (which must be set) and ${VAR:-default}.
func interpolate(raw []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		name, hasDefault := string(sub[1]), len(sub[2]) > 0
		if v, ok := lookup(name); ok && (v != "" || !hasDefault) {
			return []byte(v)
		}
		if hasDefault {
			return sub[3]
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("environment variable %s is not set (use ${%s:-default} for an optional value)",
			strings.Join(missing, ", "), missing[0])
	}
	return out, nil
}

// Defaults, chosen for a pipeline that must be fully leased quickly and shut
// down inside ECS's default 30 s stop timeout.
const (
	DefaultLeaseDuration = 10 * time.Second
	// The KCL takes at most one new lease per shard-sync tick; 400ms leases
	// 64 shards in about 26 s.
	DefaultShardSyncInterval    = 400 * time.Millisecond
	DefaultMaxRecords           = 10000
	DefaultIdleTimeBetweenReads = 500 * time.Millisecond
	DefaultMaxInFlightBatches   = 8
	DefaultCheckpointInterval   = time.Second
	DefaultShutdownTimeout      = 25 * time.Second
	DefaultFirehoseLinger       = 500 * time.Millisecond
	DefaultFirehoseMaxInFlight  = 4
	DefaultFirehoseRetryTimeout = 5 * time.Minute
)

func (c *Config) applyDefaults() {
	if c.AWS.Region == "" {
		c.AWS.Region = "us-east-1"
	}
	s := &c.Source
	if s.InitialPosition == "" {
		s.InitialPosition = "TRIM_HORIZON"
	}
	if s.Checkpoints.Type == "" {
		s.Checkpoints.Type = "redis"
	}
	if s.LeaseStealing == nil {
		on := true
		s.LeaseStealing = &on
	}
	if c.Ops.Listen == "" {
		c.Ops.Listen = ":9090"
	}
	if c.Redis.KeyPrefix == "" {
		c.Redis.KeyPrefix = "sf"
	}
	if s.Checkpoints.Table == "" && c.Name != "" {
		s.Checkpoints.Table = "shardflow-" + c.Name
	}
	setDuration(&s.LeaseDuration, DefaultLeaseDuration)
	setDuration(&s.ShardSyncInterval, DefaultShardSyncInterval)
	setDuration(&s.IdleTimeBetweenReads, DefaultIdleTimeBetweenReads)
	setDuration(&s.CheckpointInterval, DefaultCheckpointInterval)
	setDuration(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDuration(&c.ProgressLogInterval, 30*time.Second)
	if s.MaxRecords == 0 {
		s.MaxRecords = DefaultMaxRecords
	}
	if s.MaxInFlightBatches == 0 {
		s.MaxInFlightBatches = DefaultMaxInFlightBatches
	}
	for i := range c.Windows {
		w := &c.Windows[i]
		if w.Output.Name == "" {
			w.Output.Name = w.Name
		}
		if w.MaxOutOfOrderness == 0 {
			w.MaxOutOfOrderness = Duration(5 * time.Second)
		}
		setDuration(&w.IdleTimeout, time.Minute)
		setDuration(&w.FlushInterval, time.Second)
		setDuration(&w.EmitInterval, time.Second)
		setDuration(&w.EmittedRetention, 10*time.Minute)
		if w.LateRows == "" {
			w.LateRows = string(window.LateDeadLetter)
		}
	}
	outs := make([]*OutputConfig, 0, len(c.Outputs)+len(c.Windows))
	for i := range c.Outputs {
		outs = append(outs, &c.Outputs[i])
	}
	for i := range c.Windows {
		outs = append(outs, &c.Windows[i].Output)
	}
	for _, o := range outs {
		if f := o.Firehose; f != nil {
			if f.Format == "" {
				f.Format = "ndjson"
			}
			setDuration(&f.Linger, DefaultFirehoseLinger)
			setDuration(&f.RetryTimeout, DefaultFirehoseRetryTimeout)
			if f.MaxInFlight == 0 {
				f.MaxInFlight = DefaultFirehoseMaxInFlight
			}
		}
	}
	if c.DeadLetter.File == "" && !c.DeadLetter.Stdout && c.DeadLetter.Firehose == nil && c.Name != "" {
		c.DeadLetter.File = "dead-letter/" + c.Name + ".ndjson"
	}
}

func setDuration(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FieldError is one invalid config value, named by its path.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// Validate checks every field and returns all problems at once, each naming
// its path (errors.Join of *FieldError).
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if !namePattern.MatchString(c.Name) {
		bad("name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", c.Name)
	}
	s := c.Source
	if !namePattern.MatchString(s.Stream) {
		bad("source.stream", "must be a Kinesis stream name (1-64 of [a-zA-Z0-9_.-]), got %q", s.Stream)
	}
	switch s.InitialPosition {
	case "TRIM_HORIZON", "LATEST":
		if s.AtTimestamp != "" {
			bad("source.at_timestamp", "only applies to initial_position AT_TIMESTAMP")
		}
	case "AT_TIMESTAMP":
		if _, err := time.Parse(time.RFC3339, s.AtTimestamp); err != nil {
			bad("source.at_timestamp", "must be an RFC 3339 time with AT_TIMESTAMP, got %q", s.AtTimestamp)
		}
	default:
		bad("source.initial_position", "must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, got %q", s.InitialPosition)
	}
	if s.MaxLeases < 0 {
		bad("source.max_leases", "must not be negative")
	}
	switch s.Checkpoints.Type {
	case "dynamodb":
	case "redis":
		if c.Redis.URL == "" && len(c.Redis.ClusterAddrs) == 0 {
			bad("redis", "url or cluster_addrs is required by source.checkpoints.type redis")
		}
	default:
		bad("source.checkpoints.type", "must be redis or dynamodb, got %q", s.Checkpoints.Type)
	}
	if c.Redis.URL != "" && len(c.Redis.ClusterAddrs) > 0 {
		bad("redis", "set url or cluster_addrs, not both")
	}
	if e := c.Ops.EMF; e != nil && e.Interval.D() != 0 && e.Interval.D() < time.Second {
		bad("ops.emf.interval", "must be at least 1s, got %s", e.Interval.D())
	}
	if c.Redis.URL != "" {
		// The message never repeats the URL: it may hold a password.
		if _, err := goredis.ParseURL(c.Redis.URL); err != nil {
			bad("redis.url", "is not a valid redis:// or rediss:// URL")
		}
	}
	if c.Redis.TLS && c.Redis.URL != "" {
		bad("redis.tls", "applies to cluster_addrs; for url use rediss://")
	}
	if !namePattern.MatchString(c.Redis.KeyPrefix) {
		bad("redis.key_prefix", "must be 1-64 of [a-zA-Z0-9_.-], got %q", c.Redis.KeyPrefix)
	}
	if s.LeaseDuration.D() < time.Second {
		bad("source.lease_duration", "must be at least 1s, got %s", s.LeaseDuration.D())
	}
	if s.ShardSyncInterval.D() < 100*time.Millisecond {
		bad("source.shard_sync_interval", "must be at least 100ms, got %s", s.ShardSyncInterval.D())
	}
	if s.MaxRecords < 1 || s.MaxRecords > 10000 {
		bad("source.max_records", "must be 1..10000, got %d", s.MaxRecords)
	}
	if s.MaxInFlightBatches < 1 || s.MaxInFlightBatches > 1024 {
		bad("source.max_in_flight_batches", "must be 1..1024, got %d", s.MaxInFlightBatches)
	}
	if s.CheckpointInterval.D() < 0 {
		bad("source.checkpoint_interval", "must not be negative")
	}
	if c.ProgressLogInterval.D() < 100*time.Millisecond {
		bad("progress_log_interval", "must be at least 100ms, got %s", c.ProgressLogInterval.D())
	}
	if c.ShutdownTimeout.D() < time.Second {
		bad("shutdown_timeout", "must be at least 1s, got %s", c.ShutdownTimeout.D())
	}
	if len(c.Schema) == 0 {
		bad("schema", "must declare at least one field")
	} else if d, err := c.newDecoder(memory.DefaultAllocator); err != nil {
		errs = append(errs, decoderErrors(err)...)
	} else {
		d.Release()
	}
	for i, t := range c.Transforms {
		kinds := 0
		for _, set := range []bool{t.RedisLookup != nil, t.StaticTable != nil, t.Derive != nil, t.Filter != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			bad(fmt.Sprintf("transforms[%d]", i), "must set exactly one of redis_lookup, static_table, derive, filter")
		}
		if t.RedisLookup != nil && c.Redis.URL == "" && len(c.Redis.ClusterAddrs) == 0 {
			bad(fmt.Sprintf("transforms[%d].redis_lookup", i), "needs redis.url or redis.cluster_addrs")
		}
	}
	if len(c.Outputs) == 0 && len(c.Windows) == 0 {
		bad("outputs", "must have at least one output (or a window with its output)")
	}
	seen := map[string]string{}
	for i, w := range c.Windows {
		p := fmt.Sprintf("windows[%d]", i)
		if !namePattern.MatchString(w.Name) {
			bad(p+".name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", w.Name)
		}
		if c.Redis.URL == "" && len(c.Redis.ClusterAddrs) == 0 {
			bad(p, "needs redis.url or redis.cluster_addrs (window state lives in Redis)")
		}
		if n := btoi(w.Tumbling != 0) + btoi(w.Hopping != nil) + btoi(w.Session != nil); n != 1 {
			bad(p, "must set exactly one of tumbling, hopping, session")
		}
		if w.IdleTimeout.D() <= s.LeaseDuration.D() {
			bad(p+".idle_timeout", "must exceed source.lease_duration (%s): a crashed worker's shards look idle until a new owner takes their lease, and rows read after that would be late", s.LeaseDuration.D())
		}
		if w.EmittedRetention.D() < time.Second {
			bad(p+".emitted_retention", "must be at least 1s, got %s", w.EmittedRetention.D())
		}
		if err := w.Options(c.Name).Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				bad(p, "%s", line)
			}
		}
	}
	outs := make([]OutputConfig, 0, len(c.Outputs)+len(c.Windows))
	paths := make([]string, 0, cap(outs))
	for i, o := range c.Outputs {
		outs, paths = append(outs, o), append(paths, fmt.Sprintf("outputs[%d]", i))
	}
	for i, w := range c.Windows {
		outs, paths = append(outs, w.Output), append(paths, fmt.Sprintf("windows[%d].output", i))
	}
	for i, o := range outs {
		p := paths[i]
		if !namePattern.MatchString(o.Name) {
			bad(p+".name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", o.Name)
		} else if other, dup := seen[o.Name]; dup {
			bad(p+".name", "%q is already the name of %s", o.Name, other)
		} else {
			seen[o.Name] = p
		}
		if (o.Firehose == nil) == (o.S3 == nil) {
			bad(p, "must set exactly one output kind (firehose or s3)")
			continue
		}
		if o.S3 != nil {
			if o.S3.Bucket == "" {
				bad(p+".s3.bucket", "is required")
			}
			switch o.S3.Compression {
			case "", "snappy", "zstd", "none":
			default:
				bad(p+".s3.compression", "must be snappy, zstd or none, got %q", o.S3.Compression)
			}
			continue
		}
		f := o.Firehose
		if !namePattern.MatchString(f.DeliveryStream) {
			bad(p+".firehose.delivery_stream", "must be a delivery stream name (1-64 of [a-zA-Z0-9_.-]), got %q", f.DeliveryStream)
		}
		if f.Format != "ndjson" && f.Format != "csv" {
			bad(p+".firehose.format", "must be ndjson or csv, got %q", f.Format)
		}
		if f.Linger.D() < 0 || f.Linger.D() > time.Minute {
			bad(p+".firehose.linger", "must be 0..1m, got %s", f.Linger.D())
		}
		if f.MaxInFlight < 1 || f.MaxInFlight > 64 {
			bad(p+".firehose.max_in_flight", "must be 1..64, got %d", f.MaxInFlight)
		}
		if f.RetryTimeout.D() < time.Second {
			bad(p+".firehose.retry_timeout", "must be at least 1s, got %s", f.RetryTimeout.D())
		}
	}
	if dl := c.DeadLetter; (dl.File != "" && dl.Stdout) || (dl.Firehose != nil && (dl.File != "" || dl.Stdout)) {
		bad("dead_letter", "set one of file, stdout, firehose")
	}
	if f := c.DeadLetter.Firehose; f != nil && !namePattern.MatchString(f.DeliveryStream) {
		bad("dead_letter.firehose.delivery_stream", "must be a delivery stream name, got %q", f.DeliveryStream)
	}
	return errors.Join(errs...)
}

package pipeline

import (
	"regexp"
	"strings"
	"time"

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

	// meta is what reading the file learnt: positions, keys set, problems
	// (nil for a config built in code).
	meta *configMeta
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
// (ElastiCache cluster mode) is used. RedisClient builds every client from
// it (run, the tools), so they all connect the same way.
type RedisConfig struct {
	// URL is redis://[[user]:password@]host:port/db or rediss:// (TLS). A
	// password must come from the environment (${REDIS_AUTH_TOKEN}), not
	// be written in the file.
	URL          string   `yaml:"url"`
	ClusterAddrs []string `yaml:"cluster_addrs"`
	// Username is the ACL user (ElastiCache RBAC); empty: the default user
	// (or the URL's).
	Username string `yaml:"username"`
	// Password (AUTH token) for cluster_addrs, or to override the URL's;
	// from the environment only, like the URL's.
	Password string `yaml:"password"`
	// TLS is in-transit encryption: `tls: true`, or a mapping with the
	// CA file and server name to verify the server's certificate against.
	// A rediss:// URL turns it on; the certificate is always verified.
	TLS *RedisTLS `yaml:"tls"`
	// KeyPrefix namespaces every key shardflow writes ("sf" by default).
	KeyPrefix string `yaml:"key_prefix"`
	// PoolSize is the most connections per node (0: go-redis's default,
	// 10 per GOMAXPROCS); MinIdleConns are kept open.
	PoolSize     int `yaml:"pool_size"`
	MinIdleConns int `yaml:"min_idle_conns"`
	// DialTimeout bounds a new connection, its TLS handshake and AUTH.
	DialTimeout Duration `yaml:"dial_timeout"`
	// ReadTimeout and WriteTimeout bound one command's socket I/O.
	ReadTimeout  Duration `yaml:"read_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
}

// RedisTLS is redis.tls: `true` (verify against the system's CAs and the
// host name), `false`, or a mapping.
type RedisTLS struct {
	// CAFile is a PEM file of the CA certificates the server's
	// certificate must chain to (default: the system's).
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the certificate must be valid for (default:
	// the host the client dials).
	ServerName string `yaml:"server_name"`
	// Off is `tls: false`.
	Off bool `yaml:"-"`
}

// TLSOn reports whether connections use TLS: redis.tls is on, or the URL
// is rediss://.
func (c RedisConfig) TLSOn() bool {
	if c.TLS != nil {
		return !c.TLS.Off
	}
	return strings.HasPrefix(strings.ToLower(c.URL), "rediss://")
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
	// Balance is how shards are spread over the workers: "count" (default;
	// every worker holds ⌊N/W⌋ or ⌈N/W⌉ shards) or "throughput" (by each
	// shard's measured bytes/s, so that hot shards do not share a task).
	Balance string `yaml:"balance"`
	// LeaseStealing is accepted for old files and has no effect: shardflow
	// always balances, moving shards by graceful handoff.
	LeaseStealing *bool `yaml:"lease_stealing"`
	// Checkpoints names the lease and checkpoint store.
	Checkpoints CheckpointsConfig `yaml:"checkpoints"`
	// LeaseDuration is how long a lease (and a worker's heartbeat) lasts
	// without renewal before another worker may take the shard: the
	// takeover time after a crash.
	LeaseDuration Duration `yaml:"lease_duration"`
	// ShardSyncInterval is how often the stream's shards are listed to find
	// new ones (a shard that ends is followed by a listing at once).
	ShardSyncInterval Duration `yaml:"shard_sync_interval"`
	// HealthGrace is how long the stream may fail to list or a shard to
	// read before /readyz turns unready (default 30s).
	HealthGrace Duration `yaml:"health_grace"`
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
	// IdleTimeout leaves a shard out of the watermark once its reader is
	// caught up and it had no rows for this long (default 1m); a shard
	// with a backlog, a stalled reader or no live owner holds the
	// watermark. Keep it above the lease takeover time.
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
	// RollRecords ends a segment of an exactly-once output (outputs[])
	// after this many rows of a shard (default 1,000,000); RollInterval is
	// then a span of the rows' arrival times.
	RollRecords int64 `yaml:"roll_records"`
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
	// MaxRowsPerRecord caps the rows packed into one Firehose record (0:
	// none). Dynamic partitioning splits at most 500 JSON objects out of a
	// record: set 500 for such delivery streams.
	MaxRowsPerRecord int `yaml:"max_rows_per_record"`
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

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return formatDuration(time.Duration(d)), nil }

// String writes the duration as a config would (1m, 500ms).
func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults, chosen for a pipeline that must be fully leased quickly and shut
// down inside ECS's default 30 s stop timeout.
const (
	DefaultLeaseDuration = 10 * time.Second
	// ListShards is limited to 100 calls/s per stream, shared by every
	// worker: list every 10 s (and at once when a shard ends).
	DefaultShardSyncInterval    = 10 * time.Second
	DefaultHealthGrace          = 30 * time.Second
	DefaultMaxRecords           = 10000
	DefaultIdleTimeBetweenReads = 500 * time.Millisecond
	DefaultMaxInFlightBatches   = 8
	DefaultCheckpointInterval   = time.Second
	DefaultShutdownTimeout      = 25 * time.Second
	DefaultFirehoseLinger       = 500 * time.Millisecond
	DefaultFirehoseMaxInFlight  = 4
	DefaultFirehoseRetryTimeout = 5 * time.Minute
)

// namePattern is what names of pipelines, streams and outputs may be.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

package pipeline

import (
	"reflect"
	"strings"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
)

// The declarations below are the one description of every key of a
// pipeline file: the reader applies their defaults (only to keys the file
// leaves out, so an explicit 0 is never replaced), Plan checks their
// required keys, enums and one-of groups, the JSON Schema (shardflow
// schema) carries their descriptions, and `shardflow config` masks their
// secrets. A test fails when a key of the config types has no declaration.

// keyDecl describes one key.
type keyDecl struct {
	Doc string
	// Default is the YAML text of the value used when the key is absent.
	Default string
	// DefaultDoc describes a default computed from other keys.
	DefaultDoc string
	Enum       []string
	// Pattern (a regular expression) constrains a string in the schema.
	Pattern  string
	Required bool
	// Zero says what an explicit 0 means for a number or duration whose
	// default is not 0, or why it is rejected.
	Zero string
	// Secret values come from the environment only and are masked.
	Secret bool
	// URL values may carry userinfo; a password there must come from the
	// environment and is masked.
	URL bool
	// Example is a value shown in messages and the schema.
	Example string
	// Optional lists keys of the value's type that are not required here
	// although the type declares them required (a window's output name).
	Optional []string
}

// typeDecl describes one mapping type.
type typeDecl struct {
	Doc string
	// OneOf: exactly one of these keys must be set.
	OneOf []string
	// AtMostOne: at most one of these keys may be set.
	AtMostOne []string
	Keys      map[string]keyDecl
}

var durationDoc = "a duration such as 500ms, 10s, 5m, 1h"

var fieldTypes = []string{string(decode.String), string(decode.Int64), string(decode.Float64), string(decode.Bool), string(decode.Timestamp)}

var declarations = map[reflect.Type]*typeDecl{
	reflect.TypeFor[Config](): {
		Doc: "One shardflow pipeline: a Kinesis stream decoded, transformed and sent to outputs and windows.",
		Keys: map[string]keyDecl{
			"name":                  {Required: true, Pattern: namePattern.String(), Doc: "Pipeline name: KCL application name, Redis key namespace, metric and dead-letter label; 1-64 of [a-zA-Z0-9_.-]."},
			"aws":                   {Doc: "AWS region and endpoint overrides."},
			"redis":                 {Doc: "The Redis of leases, checkpoints, window state and lookups."},
			"source":                {Required: true, Doc: "The Kinesis stream and how its shards are leased."},
			"schema":                {Required: true, Doc: "The columns every record is decoded into, in order."},
			"transforms":            {Doc: "Stages applied in order to every decoded batch: redis_lookup, static_table, derive, filter."},
			"outputs":               {Doc: "Direct outputs: every transformed row goes to each."},
			"windows":               {Doc: "Event-time window aggregations; each sends its result rows to its own output."},
			"dead_letter":           {Doc: "Where rejected input goes (one of file, stdout, firehose)."},
			"shutdown_timeout":      {Default: "25s", Zero: "rejected (at least 1s)", Doc: "Drain budget on SIGTERM; keep it below the ECS stop timeout (30s by default)."},
			"ops":                   {Doc: "The operations HTTP endpoint and CloudWatch EMF metrics."},
			"progress_log_interval": {Default: "30s", Zero: "rejected (at least 100ms)", Doc: "How often a progress log line with running totals is written."},
		},
	},
	reflect.TypeFor[AWSConfig](): {
		Doc: "AWS region and endpoint overrides.",
		Keys: map[string]keyDecl{
			"region":    {Default: "us-east-1", Doc: "AWS region."},
			"endpoints": {Doc: "Endpoint overrides (local stand-ins); empty means AWS's."},
		},
	},
	reflect.TypeFor[EndpointsConfig](): {
		Doc: "Service endpoint overrides; empty means the AWS default.",
		Keys: map[string]keyDecl{
			"kinesis":  {URL: true, Doc: "Kinesis endpoint URL."},
			"dynamodb": {URL: true, Doc: "DynamoDB endpoint URL (lease table with checkpoints.type dynamodb)."},
			"firehose": {URL: true, Doc: "Firehose endpoint URL; /readyz checks that it accepts connections."},
			"s3":       {URL: true, Doc: "S3 endpoint URL (path-style addressing)."},
		},
	},
	reflect.TypeFor[OpsConfig](): {
		Doc: "The operations endpoint (/metrics, /healthz, /readyz, status page).",
		Keys: map[string]keyDecl{
			"listen": {Default: ":9090", Doc: "Address of /metrics, /healthz, /readyz and the status page; off disables it."},
			"emf":    {Doc: "Also write CloudWatch Embedded Metric Format lines to stdout (off when absent)."},
		},
	},
	reflect.TypeFor[EMFConfig](): {
		Doc: "CloudWatch Embedded Metric Format lines on stdout, one per interval.",
		Keys: map[string]keyDecl{
			"namespace": {Default: "shardflow", Doc: "CloudWatch namespace."},
			"interval":  {Default: "1m", Zero: "rejected (at least 1s)", Doc: "Time between lines."},
		},
	},
	reflect.TypeFor[RedisConfig](): {
		Doc:       "The Redis shared by leases, checkpoints, window state and lookups: url (one node) or cluster_addrs (cluster mode).",
		AtMostOne: []string{"url", "cluster_addrs"},
		Keys: map[string]keyDecl{
			"url":            {URL: true, Doc: "redis://[[user]:password@]host:port/db, or rediss:// for TLS. A password must come from the environment: rediss://:${REDIS_AUTH_TOKEN}@host:6379."},
			"cluster_addrs":  {URL: true, Doc: "Cluster-mode endpoints (host:port) instead of url."},
			"username":       {Doc: "ACL user (ElastiCache RBAC user); empty: the default user, or the url's."},
			"password":       {Secret: true, Doc: "AUTH token, from the environment only (e.g. ${REDIS_AUTH_TOKEN}); for cluster_addrs or to override the url's."},
			"tls":            {Doc: "In-transit encryption: true, false, or a mapping {ca_file, server_name}. On with rediss://. The server's certificate is always verified (there is no way to turn that off)."},
			"key_prefix":     {Default: "sf", Pattern: namePattern.String(), Doc: "Namespace of every key shardflow writes."},
			"pool_size":      {Default: "0", Zero: "go-redis's default, 10 per GOMAXPROCS", Doc: "Most connections per Redis node."},
			"min_idle_conns": {Default: "0", Doc: "Idle connections kept open per node."},
			"dial_timeout":   {Default: "5s", Zero: "rejected (at least 100ms)", Doc: "Bound of a new connection: TCP, TLS handshake and AUTH."},
			"read_timeout":   {Default: "3s", Zero: "rejected (at least 100ms)", Doc: "Bound of one command's socket reads."},
			"write_timeout":  {Default: "3s", Zero: "rejected (at least 100ms)", Doc: "Bound of one command's socket writes."},
		},
	},
	reflect.TypeFor[RedisTLS](): {
		Doc: "TLS to Redis (ElastiCache in-transit encryption); the certificate is always verified.",
		Keys: map[string]keyDecl{
			"ca_file":     {Doc: "PEM file of the CA certificate(s) the server's certificate must chain to; default: the system's CAs (enough for ElastiCache)."},
			"server_name": {Doc: "Name the server's certificate must be valid for; default: the host dialled."},
		},
	},
	reflect.TypeFor[SourceConfig](): {
		Doc: "The Kinesis stream and how its shards are leased and read.",
		Keys: map[string]keyDecl{
			"stream":                  {Required: true, Pattern: namePattern.String(), Doc: "Kinesis stream name."},
			"initial_position":        {Default: "TRIM_HORIZON", Enum: []string{"TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"}, Doc: "Where shards without a checkpoint start."},
			"at_timestamp":            {Doc: "RFC 3339 start time for initial_position AT_TIMESTAMP."},
			"max_leases":              {Default: "0", Zero: "no cap", Doc: "Most shards one worker holds."},
			"balance":                 {Default: "count", Enum: []string{"count", "throughput"}, Doc: "How shards are spread over the workers: count (every worker holds ⌊N/W⌋ or ⌈N/W⌉) or throughput (by measured bytes/s, so that hot shards do not share a task)."},
			"lease_stealing":          {Doc: "Accepted for old files; no effect (a warning): shardflow always balances, moving shards by graceful handoff."},
			"health_grace":            {Default: "30s", Zero: "rejected (at least 1s)", Doc: "How long the stream may fail to list, or a shard to read, before /readyz turns unready."},
			"checkpoints":             {Doc: "The lease and checkpoint store."},
			"lease_duration":          {Default: "10s", Zero: "rejected (at least 3s)", Doc: "A lease (or a worker's heartbeat) not renewed for this long is free for another worker: the takeover time after a crash. Workers coordinate every tenth of it (100ms-1s)."},
			"shard_sync_interval":     {Default: "10s", Zero: "rejected (at least 100ms)", Doc: "How often the stream's shards are listed to find new ones (ListShards allows 100 calls/s per stream for all workers); a shard that ends is followed by a listing at once."},
			"max_records":             {Default: "10000", Zero: "rejected (1-10000)", Doc: "Records per GetRecords call (1-10000)."},
			"idle_time_between_reads": {Default: "500ms", Zero: "rejected: an empty shard would be polled in a tight loop (Kinesis allows 5 reads per second per shard)", Doc: "Pause after an empty read."},
			"max_in_flight_batches":   {Default: "8", Zero: "rejected (1-1024)", Doc: "Unacked batches per shard before reading blocks."},
			"checkpoint_interval":     {Default: "1s", Zero: "honoured: a checkpoint after every acked batch", Doc: "Minimum time between checkpoint writes of a shard."},
			"format":                  {Default: "json", Enum: []string{"json", "csv", "apache_combined", "apache_common", "apache_error", "syslog", "regex", "cloudwatch_logs"}, Doc: "How records are decoded: json, csv, Apache access/error logs, syslog (RFC 3164 and 5424), regex (named groups), or cloudwatch_logs (gzip subscription envelopes: one row per log event)."},
			"csv":                     {Doc: "Options of format csv."},
			"regex":                   {Doc: "format regex: a regular expression whose named groups are the fields."},
			"timezone":                {Doc: "IANA time zone of timestamps without one (syslog RFC 3164, Apache error logs); default UTC."},
		},
	},
	reflect.TypeFor[decode.CSVOptions](): {
		Doc: "CSV records: one line a record.",
		Keys: map[string]keyDecl{
			"delimiter": {DefaultDoc: ",", Doc: "One byte (\\t or tab for tabs)."},
			"columns":   {Doc: "The fields of a line in order; default the schema's paths (names where no path is set)."},
			"header":    {Doc: "Skip (and count) lines whose fields are exactly the column names."},
		},
	},
	reflect.TypeFor[CheckpointsConfig](): {
		Doc: "The lease and checkpoint store.",
		Keys: map[string]keyDecl{
			"type":  {Default: "redis", Enum: []string{"redis", "dynamodb"}, Doc: "redis (the default) or dynamodb: the same fenced, balanced leases; DynamoDB keeps the KCL's attribute names, so a table the KCL wrote keeps its checkpoints."},
			"table": {DefaultDoc: "shardflow-<name>", Doc: "DynamoDB lease table; created (on demand) if missing."},
		},
	},
	reflect.TypeFor[decode.Field](): {
		Doc: "One column of the schema and where its value is in each JSON record.",
		Keys: map[string]keyDecl{
			"name":     {Required: true, Doc: "Column name in every batch and output."},
			"type":     {Required: true, Enum: fieldTypes, Doc: "Column type."},
			"path":     {DefaultDoc: "the name", Doc: "Dotted JSON path of the value (user.id)."},
			"nullable": {Doc: "The value may be missing or null; otherwise such a record goes to dead-letter (unless default is set)."},
			"default":  {Doc: "Value (parsed as the type) used when the value is missing or null."},
			"format":   {DefaultDoc: "rfc3339", Doc: "Timestamps: rfc3339, unix (seconds), unix_ms, or a Go time layout."},
		},
	},
	reflect.TypeFor[TransformConfig](): {
		Doc:   "One transform; exactly one kind.",
		OneOf: []string{"redis_lookup", "static_table", "derive", "filter"},
		Keys: map[string]keyDecl{
			"redis_lookup": {Doc: "Join values from Redis hashes or JSON strings, one pipelined round trip per batch for its cache-missing keys."},
			"static_table": {Doc: "Join values from a CSV or JSON file held in memory (reloaded on SIGHUP)."},
			"derive":       {Doc: "Append a column computed by an expression (expr-lang) over the row."},
			"filter":       {Doc: "Keep the rows for which an expression is true; null compares false."},
		},
	},
	reflect.TypeFor[enrich.RedisOptions](): {
		Doc: "A Redis lookup join.",
		Keys: map[string]keyDecl{
			"key":          {Required: true, Doc: "Key template over the row's columns, e.g. user:{user_id}; {{ and }} are literal braces."},
			"key_prefix":   {Doc: "Prepended to every rendered key."},
			"source":       {Default: "hash", Enum: []string{"hash", "json"}, Doc: "hash (HMGET of the fields) or json (GET of a JSON object)."},
			"fields":       {Required: true, Doc: "The values appended as columns."},
			"on_miss":      {Default: "null", Enum: missPolicies, Doc: "A row whose key is not found: null, default (each field's default), drop, dead_letter."},
			"cache_size":   {Default: "100000", Zero: "rejected (a negative size disables the cache)", Doc: "Keys held in the in-process cache (found and missing)."},
			"cache_ttl":    {Default: "1m", Zero: "rejected (a negative ttl disables the cache)", Doc: "How long a found entry is served from the cache: the staleness bound."},
			"negative_ttl": {Default: "10s", Zero: "rejected (a negative ttl disables negative caching)", Doc: "How long a missing key is remembered as missing."},
		},
	},
	reflect.TypeFor[enrich.StaticOptions](): {
		Doc: "A static table join.",
		Keys: map[string]keyDecl{
			"file":    {Required: true, Doc: "The table: CSV with a header row, or JSON (an array of objects, or an object keyed by key)."},
			"format":  {DefaultDoc: "by the file's extension", Enum: []string{"csv", "json"}, Doc: "csv or json."},
			"key":     {Required: true, Doc: "Key template rendered over each row's columns and each file row's fields, e.g. {country}."},
			"fields":  {Required: true, Doc: "The values appended as columns."},
			"on_miss": {Default: "null", Enum: missPolicies, Doc: "A row whose key is not found: null, default, drop, dead_letter."},
		},
	},
	reflect.TypeFor[enrich.Field](): {
		Doc: "One looked-up value appended as a column.",
		Keys: map[string]keyDecl{
			"from":    {Required: true, Doc: "Hash field, JSON member or table column."},
			"as":      {DefaultDoc: "from", Doc: "Name of the appended column."},
			"type":    {Required: true, Enum: fieldTypes, Doc: "Column type; the stored text is converted to it."},
			"default": {Doc: "Value when the entry lacks the field (and with on_miss default, when the key is not found)."},
		},
	},
	reflect.TypeFor[transform.Derive](): {
		Doc: "Appends a column computed by an expression.",
		Keys: map[string]keyDecl{
			"name": {Required: true, Doc: "Name of the appended column."},
			"type": {Required: true, Enum: fieldTypes, Doc: "Column type."},
			"expr": {Required: true, Doc: "expr-lang expression over the row's columns, e.g. price * 100; a null column is nil (write price ?? 0)."},
		},
	},
	reflect.TypeFor[transform.Filter](): {
		Doc: "Keeps the rows for which the expression is true.",
		Keys: map[string]keyDecl{
			"expr": {Required: true, Doc: "expr-lang boolean expression, e.g. country in [\"DE\",\"FR\"] && price > 0."},
		},
	},
	reflect.TypeFor[OutputConfig](): {
		Doc:   "One output; exactly one kind.",
		OneOf: []string{"firehose", "s3"},
		Keys: map[string]keyDecl{
			"name":     {Required: true, Pattern: namePattern.String(), Doc: "Output name, unique among outputs and window outputs (metrics, logs)."},
			"firehose": {Doc: "Rows encoded (NDJSON or CSV) and packed into Firehose records."},
			"s3":       {Doc: "Rows written as Parquet files straight to S3."},
		},
	},
	reflect.TypeFor[FirehoseConfig](): {
		Doc: "A Firehose delivery stream output.",
		Keys: map[string]keyDecl{
			"delivery_stream":     {Required: true, Pattern: namePattern.String(), Doc: "Firehose delivery stream name."},
			"format":              {Default: "ndjson", Enum: []string{"ndjson", "csv"}, Doc: "Row encoding: ndjson (S3, Athena, Redshift JSON 'auto') or csv (Redshift COPY CSV)."},
			"linger":              {Default: "500ms", Zero: "honoured: a call is sent as soon as rows are queued", Doc: "How long a partly filled call waits for more rows (at most 1m)."},
			"max_in_flight":       {Default: "4", Zero: "rejected (1-64)", Doc: "Concurrent PutRecordBatch calls."},
			"retry_timeout":       {Default: "5m", Zero: "rejected (at least 1s)", Doc: "How long failed records are retried before the output turns unhealthy."},
			"max_rows_per_record": {Default: "0", Zero: "no cap", Doc: "Most rows packed into one Firehose record; set 500 for delivery streams with dynamic partitioning (Firehose splits at most 500 JSON objects out of a record)."},
		},
	},
	reflect.TypeFor[S3Config](): {
		Doc: "Parquet files written straight to S3 under <prefix>dt=YYYY-MM-DD/hr=HH/.",
		Keys: map[string]keyDecl{
			"bucket":        {Required: true, Doc: "S3 bucket."},
			"prefix":        {Doc: "Key prefix; a / is added when it lacks one."},
			"compression":   {Default: "snappy", Enum: []string{"snappy", "zstd", "none"}, Doc: "Parquet compression."},
			"roll_bytes":    {Default: "134217728", Zero: "rejected (must be positive)", Doc: "A file is closed and uploaded once about this large (bytes)."},
			"roll_interval": {Default: "5m", Zero: "rejected (must be positive)", Doc: "A file is closed and uploaded this long after it opened; acks (checkpoints) wait for it. For outputs[] (exactly-once) it is a span of the rows' arrival times."},
			"roll_records":  {Default: "1000000", Zero: "rejected (must be positive)", Doc: "outputs[] (exactly-once): a segment ends after this many rows of a shard, in sequence order, so that a replay cuts at the same row."},
			"partition_by":  {Default: "arrival", Pattern: `^(arrival|event:.+)$`, Doc: "arrival, or event:<timestamp column> (the hour of that column)."},
			"retry_timeout": {Default: "5m", Zero: "rejected (must be positive)", Doc: "Failing uploads are retried this long, then the output turns unhealthy."},
		},
	},
	reflect.TypeFor[WindowConfig](): {
		Doc:   "An event-time window aggregation; exactly one of tumbling, hopping, session.",
		OneOf: []string{"tumbling", "hopping", "session"},
		Keys: map[string]keyDecl{
			"name":                 {Required: true, Pattern: namePattern.String(), Doc: "Operator name (Redis keys, row ids, metrics)."},
			"time_column":          {Required: true, Doc: "Event-time column (a timestamp column)."},
			"tumbling":             {Doc: "Size of back-to-back windows, e.g. 1m."},
			"hopping":              {Doc: "Windows of size starting every slide (size a multiple of slide)."},
			"session":              {Doc: "A group's rows less than gap apart form a session."},
			"group_by":             {Doc: "Group-key columns (may be empty: one group)."},
			"aggregates":           {Required: true, Doc: "The result columns."},
			"max_out_of_orderness": {Default: "5s", Zero: "honoured: events arrive in order", Doc: "How far behind a shard's largest event time rows may be without being late."},
			"allowed_lateness":     {Default: "0s", Doc: "Windows stay open this much longer past the watermark."},
			"idle_timeout":         {Default: "1m", Zero: "rejected (must exceed source.lease_duration)", Doc: "A shard whose reader is caught up (MillisBehindLatest 0) and that had no rows this long is left out of the watermark; a shard with a backlog, a stalled reader or no live owner holds it; must exceed source.lease_duration and be at least twice source.idle_time_between_reads."},
			"late_rows":            {Default: "dead_letter", Enum: []string{"dead_letter", "drop", "update"}, Doc: "Rows whose window was emitted: dead_letter, drop, or update (tumbling/hopping)."},
			"update_horizon":       {Default: "1h", Zero: "rejected with late_rows update (must be positive)", Doc: "With late_rows update: how long past its close a window still takes late rows."},
			"flush_interval":       {Default: "1s", Zero: "rejected (must be positive)", Doc: "Rows wait at most this long in memory before they are applied to Redis."},
			"emit_interval":        {Default: "1s", Zero: "rejected (must be positive)", Doc: "How often the emitter looks for closed windows."},
			"emitted_retention":    {Default: "10m", Zero: "rejected (at least 1s)", Doc: "How long an emitted window's deltas stay in Redis."},
			"output":               {Required: true, Optional: []string{"name"}, Doc: "Where result rows go: {firehose: {...}} or {s3: {...}}; name defaults to the window's."},
		},
	},
	reflect.TypeFor[HoppingConfig](): {
		Doc: "Hopping windows.",
		Keys: map[string]keyDecl{
			"size":  {Required: true, Doc: "Window length."},
			"slide": {Required: true, Doc: "Distance between window starts; size must be a multiple of it."},
		},
	},
	reflect.TypeFor[SessionConfig](): {
		Doc: "Session windows.",
		Keys: map[string]keyDecl{
			"gap": {Required: true, Doc: "Rows of a group less than gap apart form one session [first, last + gap)."},
		},
	},
	reflect.TypeFor[window.Aggregate](): {
		Doc: "One result column of a window.",
		Keys: map[string]keyDecl{
			"name":   {Required: true, Doc: "Result column name."},
			"fn":     {Required: true, Enum: aggregateFuncs, Doc: "count (rows, or non-null values of column), sum, min, max, avg, count_distinct (HyperLogLog), first, last."},
			"column": {Doc: "Input column; optional only for count."},
		},
	},
	reflect.TypeFor[DeadLetterConfig](): {
		Doc:       "Where rejected input goes: one of file, stdout, firehose.",
		AtMostOne: []string{"file", "stdout", "firehose"},
		Keys: map[string]keyDecl{
			"file":     {DefaultDoc: "dead-letter/<name>.ndjson (unless stdout or firehose is set)", Doc: "Dead-letter file (fsynced per write)."},
			"stdout":   {Doc: "Write dead-letter envelopes to stdout."},
			"firehose": {Doc: "Send envelopes (NDJSON) to a Firehose delivery stream."},
		},
	},
	reflect.TypeFor[DeadLetterFirehose](): {
		Doc: "The dead-letter delivery stream.",
		Keys: map[string]keyDecl{
			"delivery_stream": {Required: true, Pattern: namePattern.String(), Doc: "Firehose delivery stream name."},
		},
	},
}

var missPolicies = []string{string(enrich.MissNull), string(enrich.MissDefault), string(enrich.MissDrop), string(enrich.MissDeadLetter)}

var aggregateFuncs = []string{string(window.Count), string(window.Sum), string(window.Min), string(window.Max), string(window.Avg),
	string(window.CountDistinct), string(window.First), string(window.Last)}

// yamlFields lists the YAML keys of struct type t in declaration order.
func yamlFields(t reflect.Type) []yamlField {
	var out []yamlField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		out = append(out, yamlField{key: name, index: i, typ: f.Type})
	}
	return out
}

type yamlField struct {
	key   string
	index int
	typ   reflect.Type
}

// declOf returns the declaration of key in struct type t.
func declOf(t reflect.Type, key string) keyDecl {
	if d := declarations[t]; d != nil {
		return d.Keys[key]
	}
	return keyDecl{}
}

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/suggest"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
	"github.com/shardflow/shardflow/sinks/encode"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// Resolved is a pipeline planned offline: every stage's options built and
// checked, every schema known. Plan makes it; New attaches I/O to it.
type Resolved struct {
	// Config is the effective config (defaults filled in).
	Config *Config
	// Schema is the schema of decoded batches.
	Schema *arrow.Schema
	// Transforms are the stages in config order.
	Transforms []TransformPlan
	// Rows is the schema after the last transform: what outputs and
	// windows receive.
	Rows *arrow.Schema
	// Outputs are the direct outputs, in config order.
	Outputs []OutputPlan
	// Windows are the window operators, in config order.
	Windows []WindowPlan
}

// TransformPlan is one transform with its input and output schemas.
type TransformPlan struct {
	Path string // transforms[i]
	// Kind is redis_lookup, static_table, derive or filter.
	Kind    string
	In, Out *arrow.Schema
	// One of these, by Kind.
	RedisLookup *enrich.RedisOptions
	StaticTable *enrich.StaticOptions
	Step        transform.Step
}

// OutputPlan is one output (direct or a window's) and the rows it receives.
type OutputPlan struct {
	Path string // outputs[i] or windows[i].output
	Name string
	// Kind is firehose or s3.
	Kind     string
	Schema   *arrow.Schema
	Firehose *FirehoseConfig
	S3       *S3Config
}

// WindowPlan is one window operator: its options without the runtime
// parts (Redis, outputs, clock), its result schema and its output.
type WindowPlan struct {
	Path    string // windows[i]
	Config  WindowConfig
	Options window.Options
	Result  *arrow.Schema
	Output  OutputPlan
}

// Plan resolves the whole pipeline offline — the decode schema, each
// transform's output schema in order, every window's columns and result
// types, every output's options; static table files are read — and
// collects every problem at once, those found while reading the file
// included, each a *FieldError with the key's path and position, joined in
// a *Problems. It makes no network call: `shardflow validate` runs it, and
// what it accepts New builds (given reachable services).
func Plan(cfg *Config) (*Resolved, error) {
	pl := &planner{cfg: cfg, meta: cfg.meta, declared: map[string]bool{}}
	pl.probs.meta = cfg.meta
	file := ""
	if cfg.meta != nil {
		file = cfg.meta.file
		pl.probs.list = append(pl.probs.list, cfg.meta.problems...)
	}
	pl.checkDeclared(reflect.ValueOf(cfg).Elem(), "", nil)
	pl.checkGeneral()
	r := &Resolved{Config: cfg}
	r.Schema = pl.planSchema()
	r.Rows = pl.planTransforms(r, r.Schema)
	pl.planOutputs(r, r.Rows)
	if err := pl.probs.err(file); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks the config completely (Plan) and returns every problem.
func (c *Config) Validate() error {
	_, err := Plan(c)
	return err
}

// planner collects the problems of one Plan.
type planner struct {
	cfg   *Config
	meta  *configMeta
	probs problemList
	// declared holds the paths the declared checks (required, enum,
	// one-of) reported: a stage's own message for them would repeat it.
	declared map[string]bool
	// unresolved are columns whose declaration is broken: the stages'
	// problems about them follow from that one and are left out.
	unresolved []string
	// schemaUnknown: the schema itself is missing or unreadable, so the
	// stages' problems about columns are left out (they would all follow
	// from it).
	schemaUnknown bool
}

// stageBad records a stage's problem with option key at path.
func (pl *planner) stageBad(path, key, msg string) *FieldError {
	if pl.schemaUnknown && schemaDependent(key) {
		return nil
	}
	return pl.bad(joinPath(path, key), "%s", msg)
}

// schemaDependent says whether a stage option's problems can come from
// the columns it receives.
func schemaDependent(key string) bool {
	switch key {
	case "expr", "key", "time_column", "partition_by", "":
		return true
	}
	return strings.HasPrefix(key, "group_by[") || strings.HasPrefix(key, "aggregates[") && strings.HasSuffix(key, ".column") ||
		strings.HasPrefix(key, "fields[") && strings.HasSuffix(key, ".as")
}

// resolveAdded notes the columns a stage meant to add but could not (a
// broken name or type): later stages' problems about them are left out.
func (pl *planner) resolveAdded(out *arrow.Schema, names ...string) {
	for _, n := range names {
		if n != "" && !out.HasField(n) {
			pl.unresolved = append(pl.unresolved, n)
		}
	}
}

// bad records a problem, unless it follows from one already reported.
func (pl *planner) bad(path, format string, args ...any) *FieldError {
	if pl.meta.broken(path) || pl.declared[path] {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	for _, c := range pl.unresolved {
		if strings.Contains(msg, fmt.Sprintf("%q", c)) {
			return nil
		}
	}
	return pl.probs.add(path, "%s", msg)
}

func (pl *planner) declBad(path, format string, args ...any) {
	if pl.meta.broken(path) {
		return
	}
	pl.declared[path] = true
	pl.probs.add(path, format, args...)
}

// isSet reports whether the key at path has a value: a non-zero one, or
// for a duration one written in the file (0s is a value there).
func (pl *planner) isSet(v reflect.Value, path string) bool {
	if !v.IsZero() {
		return true
	}
	return v.Type() == durationType && pl.meta != nil && pl.meta.present[path]
}

// checkDeclared checks the declared rules of struct v at path and under
// it: required keys, enums, one-of groups.
func (pl *planner) checkDeclared(v reflect.Value, path string, optional []string) {
	t := v.Type()
	td := declarations[t]
	if td == nil {
		return
	}
	var set []string
	for _, f := range yamlFields(t) {
		fv := v.Field(f.index)
		p := joinPath(path, f.key)
		d := td.Keys[f.key]
		isSet := pl.isSet(fv, p)
		if isSet {
			set = append(set, f.key)
		}
		if d.Required && !isSet && !slices.Contains(optional, f.key) {
			msg := "is required"
			if d.Example != "" {
				msg += ", e.g. " + d.Example
			}
			if doc := strings.TrimSuffix(d.Doc, "."); doc != "" {
				msg += " (" + doc + ")"
			}
			pl.declBad(p, "%s", msg)
		}
		if len(d.Enum) > 0 && fv.Kind() == reflect.String && fv.String() != "" && !slices.Contains(d.Enum, fv.String()) {
			pl.declBad(p, "%q is not one of %s%s", fv.String(), strings.Join(d.Enum, ", "), suggest.DidYouMean(fv.String(), d.Enum))
		}
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != durationType:
			pl.checkDeclared(fv, p, d.Optional)
		case fv.Kind() == reflect.Pointer && !fv.IsNil() && fv.Elem().Kind() == reflect.Struct:
			pl.checkDeclared(fv.Elem(), p, d.Optional)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for i := range fv.Len() {
				pl.checkDeclared(fv.Index(i), fmt.Sprintf("%s[%d]", p, i), d.Optional)
			}
		}
	}
	inGroup := func(group []string) []string {
		var in []string
		for _, k := range set {
			if slices.Contains(group, k) {
				in = append(in, k)
			}
		}
		return in
	}
	if g := td.OneOf; len(g) > 0 {
		switch in := inGroup(g); len(in) {
		case 1:
		case 0:
			pl.declBad(path, "must set exactly one of %s", strings.Join(g, ", "))
		default:
			pl.declBad(path, "must set exactly one of %s, not %s", strings.Join(g, ", "), strings.Join(in, " and "))
		}
	}
	if g := td.AtMostOne; len(g) > 0 {
		if in := inGroup(g); len(in) > 1 {
			pl.declBad(path, "set one of %s, not %s", strings.Join(g, ", "), strings.Join(in, " and "))
		}
	}
}

// checkRedisConnection checks how Redis is reached: TLS, the CA file,
// pool and timeouts.
func (pl *planner) checkRedisConnection() {
	r, bad := pl.cfg.Redis, pl.bad
	rediss := strings.HasPrefix(strings.ToLower(r.URL), "rediss://")
	plain := strings.HasPrefix(strings.ToLower(r.URL), "redis://")
	switch {
	case r.TLS != nil && r.TLS.Off && rediss:
		bad("redis.tls", "is false but redis.url is rediss:// (TLS): remove one")
	case r.TLS != nil && !r.TLS.Off && plain:
		bad("redis.tls", "is on but redis.url is redis:// (no TLS): use rediss://")
	}
	if r.TLS != nil && r.TLS.CAFile != "" {
		if _, err := loadCAFile(r.TLS.CAFile); err != nil {
			bad("redis.tls.ca_file", "%v", err)
		}
	}
	if r.TLS != nil && r.TLS.ServerName != "" && strings.ContainsAny(r.TLS.ServerName, " /:") {
		bad("redis.tls.server_name", "must be a host name, got %q", r.TLS.ServerName)
	}
	if r.PoolSize < 0 {
		bad("redis.pool_size", "must be 0 (default) or positive, got %d", r.PoolSize)
	}
	if r.MinIdleConns < 0 {
		bad("redis.min_idle_conns", "must not be negative, got %d", r.MinIdleConns)
	} else if r.PoolSize > 0 && r.MinIdleConns > r.PoolSize {
		bad("redis.min_idle_conns", "must not exceed redis.pool_size (%d), got %d", r.PoolSize, r.MinIdleConns)
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{{"dial_timeout", r.DialTimeout}, {"read_timeout", r.ReadTimeout}, {"write_timeout", r.WriteTimeout}} {
		if t.d.D() < 100*time.Millisecond {
			bad("redis."+t.key, "must be at least 100ms, got %s", t.d.D())
		}
	}
}

func (pl *planner) redisConfigured() bool {
	return pl.cfg.Redis.URL != "" || len(pl.cfg.Redis.ClusterAddrs) > 0
}

// checkGeneral checks the pipeline-wide keys: name, source, redis, ops,
// dead letter, timeouts.
func (pl *planner) checkGeneral() {
	c := pl.cfg
	bad := pl.bad
	if c.Name != "" && !namePattern.MatchString(c.Name) {
		bad("name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", c.Name)
	}
	pl.checkSource()
	if c.Redis.URL != "" && len(c.Redis.ClusterAddrs) > 0 {
		bad("redis", "set url or cluster_addrs, not both")
	}
	if e := c.Ops.EMF; e != nil && e.Interval.D() < time.Second {
		bad("ops.emf.interval", "must be at least 1s, got %s", e.Interval.D())
	}
	if c.Redis.URL != "" {
		// The message never repeats the URL: it may hold a password.
		if _, err := goredis.ParseURL(c.Redis.URL); err != nil {
			bad("redis.url", "is not a valid redis:// or rediss:// URL")
		}
	}
	pl.checkRedisConnection()
	if !namePattern.MatchString(c.Redis.KeyPrefix) {
		bad("redis.key_prefix", "must be 1-64 of [a-zA-Z0-9_.-], got %q", c.Redis.KeyPrefix)
	}
	if c.ProgressLogInterval.D() < 100*time.Millisecond {
		bad("progress_log_interval", "must be at least 100ms, got %s", c.ProgressLogInterval.D())
	}
	if c.ShutdownTimeout.D() < time.Second {
		bad("shutdown_timeout", "must be at least 1s, got %s", c.ShutdownTimeout.D())
	}
	if len(c.Outputs) == 0 && len(c.Windows) == 0 && !pl.meta.broken("outputs") && !pl.meta.broken("windows") {
		bad("outputs", "must have at least one output (or a window with its output)")
	}
	if dl := c.DeadLetter; (dl.File != "" && dl.Stdout) || (dl.Firehose != nil && (dl.File != "" || dl.Stdout)) {
		bad("dead_letter", "set one of file, stdout, firehose")
	}
	if f := c.DeadLetter.Firehose; f != nil && f.DeliveryStream != "" && !namePattern.MatchString(f.DeliveryStream) {
		bad("dead_letter.firehose.delivery_stream", "must be a delivery stream name (1-64 of [a-zA-Z0-9_.-]), got %q", f.DeliveryStream)
	}
	if f := c.DeadLetter.File; f != "" && c.DeadLetter.Firehose == nil && !c.DeadLetter.Stdout {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			bad("dead_letter.file", "%s is a directory; name a file in it, e.g. %s", f, filepath.Join(f, c.Name+".ndjson"))
		} else if dir := existingAncestor(filepath.Dir(f)); dir != "" {
			if st, err := os.Stat(dir); err == nil && !st.IsDir() {
				bad("dead_letter.file", "cannot be created: %s is a file, not a directory", dir)
			}
		}
	}
}

// existingAncestor returns dir or its nearest ancestor that exists.
func existingAncestor(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// checkSource checks source.* (the lease keys are the consumer's to
// interpret; these are the same checks as before the plan existed).
func (pl *planner) checkSource() {
	c, bad := pl.cfg, pl.bad
	s := c.Source
	if s.Stream != "" && !namePattern.MatchString(s.Stream) {
		bad("source.stream", "must be a Kinesis stream name (1-64 of [a-zA-Z0-9_.-]), got %q", s.Stream)
	}
	switch s.InitialPosition {
	case "TRIM_HORIZON", "LATEST":
		if s.AtTimestamp != "" {
			bad("source.at_timestamp", "only applies to initial_position AT_TIMESTAMP")
		}
	case "AT_TIMESTAMP":
		if _, err := time.Parse(time.RFC3339, s.AtTimestamp); err != nil {
			bad("source.at_timestamp", "must be an RFC 3339 time with AT_TIMESTAMP (e.g. 2026-11-22T06:00:00Z), got %q", s.AtTimestamp)
		}
	default:
		bad("source.initial_position", "must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, got %q", s.InitialPosition)
	}
	if s.MaxLeases < 0 {
		bad("source.max_leases", "must not be negative")
	}
	if s.Balance != "count" && s.Balance != "throughput" {
		bad("source.balance", "must be count or throughput, got %q", s.Balance)
	}
	if s.HealthGrace.D() < time.Second {
		bad("source.health_grace", "must be at least 1s, got %s", s.HealthGrace.D())
	}
	switch s.Checkpoints.Type {
	case "dynamodb":
	case "redis":
		if !pl.redisConfigured() {
			bad("redis", "url or cluster_addrs is required by source.checkpoints.type redis")
		}
	default:
		bad("source.checkpoints.type", "must be redis or dynamodb, got %q", s.Checkpoints.Type)
	}
	if s.LeaseDuration.D() < 3*time.Second {
		bad("source.lease_duration", "must be at least 3s (workers renew within a third of it), got %s", s.LeaseDuration.D())
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
	switch d := s.IdleTimeBetweenReads.D(); {
	case d < 0:
		bad("source.idle_time_between_reads", "must not be negative, got %s", d)
	case d == 0:
		bad("source.idle_time_between_reads", "must be positive: 0 would poll an empty shard in a tight loop (Kinesis allows 5 reads per second per shard); omit it for %s", DefaultIdleTimeBetweenReads)
	}
	if s.CheckpointInterval.D() < 0 {
		bad("source.checkpoint_interval", "must not be negative (0 checkpoints after every acked batch)")
	}
}

// planSchema checks the declared columns and returns the schema of
// decoded batches: best effort when some columns are broken, which are
// then left out of the later stages' checks.
func (pl *planner) planSchema() *arrow.Schema {
	c := pl.cfg
	if len(c.Schema) == 0 || pl.meta.broken("schema") && slices.ContainsFunc(pl.meta.problems, func(e *FieldError) bool { return e.Path == "schema" }) {
		pl.schemaUnknown = true
		return arrow.NewSchema(nil, nil)
	}
	d, err := c.newDecoder(memory.DefaultAllocator)
	if err == nil {
		defer d.Release()
		return d.Schema()
	}
	brokenField := map[int]bool{}
	for _, e := range flatten(err) {
		var fe *decode.FieldError
		var fo *decode.FormatError
		if errors.As(e, &fo) {
			pl.bad("source."+fo.Key, "%s", fo.Msg)
			continue
		}
		if !errors.As(e, &fe) {
			pl.bad("schema", "%v", e)
			continue
		}
		msg := strings.ReplaceAll(fe.Msg, "fields[", "schema[")
		if fe.Index < 0 {
			if len(c.Schema) > 0 {
				pl.bad("schema", "%s", msg)
			}
			continue
		}
		p := fmt.Sprintf("schema[%d].%s", fe.Index, fe.Key)
		if fe.Key == "type" && !pl.meta.broken(p) && !pl.declared[p] {
			msg += suggest.DidYouMean(string(c.Schema[fe.Index].Type), fieldTypes)
		}
		pl.bad(p, "%s", msg)
		if fe.Key == "name" || fe.Key == "type" {
			brokenField[fe.Index] = true
		}
	}
	var fields []arrow.Field
	for i, f := range c.Schema {
		dt, terr := transform.ArrowType(f.Type)
		if brokenField[i] || terr != nil || f.Name == "" {
			if f.Name != "" {
				pl.unresolved = append(pl.unresolved, f.Name)
			}
			continue
		}
		fields = append(fields, arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable})
	}
	return arrow.NewSchema(fields, nil)
}

// flatten lists the errors joined in err (recursively).
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if u := errors.Unwrap(err); u != nil {
		if _, ok := u.(interface{ Unwrap() []error }); ok {
			return flatten(u)
		}
	}
	return []error{err}
}

// planTransforms plans each transform on the previous one's output and
// returns the schema after the last.
func (pl *planner) planTransforms(r *Resolved, schema *arrow.Schema) *arrow.Schema {
	for i, tc := range pl.cfg.Transforms {
		p := fmt.Sprintf("transforms[%d]", i)
		tp := TransformPlan{Path: p, In: schema, Out: schema}
		kinds := 0
		for _, set := range []bool{tc.RedisLookup != nil, tc.StaticTable != nil, tc.Derive != nil, tc.Filter != nil} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			continue // reported by the one-of check
		}
		switch {
		case tc.Derive != nil:
			tp.Kind, tp.Step = "derive", *tc.Derive
			tp.Out = pl.planStep(p+".derive", schema, *tc.Derive)
			pl.resolveAdded(tp.Out, tc.Derive.Name)
		case tc.Filter != nil:
			tp.Kind, tp.Step = "filter", *tc.Filter
			tp.Out = pl.planStep(p+".filter", schema, *tc.Filter)
		case tc.RedisLookup != nil:
			tp.Kind, tp.RedisLookup = "redis_lookup", tc.RedisLookup
			sp := p + ".redis_lookup"
			if !pl.redisConfigured() {
				pl.bad(sp, "needs redis.url or redis.cluster_addrs")
			}
			o := tc.RedisLookup
			if o.CacheSize == 0 {
				pl.bad(sp+".cache_size", "must not be 0: omit it for %d, or write -1 to disable the cache", enrich.DefaultCacheSize)
			}
			if o.CacheTTL == 0 {
				pl.bad(sp+".cache_ttl", "must not be 0: omit it for %s, or write -1s to disable the cache", enrich.DefaultCacheTTL)
			}
			if o.NegativeTTL == 0 {
				pl.bad(sp+".negative_ttl", "must not be 0: omit it for %s, or write -1s to disable negative caching", enrich.DefaultNegativeTTL)
			}
			out, probs := enrich.PlanRedisLookup(schema, *o)
			for _, e := range probs {
				pl.stageBad(sp, e.Key, e.Msg)
			}
			tp.Out = out
			pl.resolveAdded(out, lookupColumns(o.Fields)...)
		case tc.StaticTable != nil:
			tp.Kind, tp.StaticTable = "static_table", tc.StaticTable
			sp := p + ".static_table"
			out, probs := enrich.PlanStaticTable(schema, *tc.StaticTable)
			for _, e := range probs {
				pl.stageBad(sp, e.Key, e.Msg)
			}
			tp.Out = out
			pl.resolveAdded(out, lookupColumns(tc.StaticTable.Fields)...)
		}
		r.Transforms = append(r.Transforms, tp)
		schema = tp.Out
	}
	return schema
}

// planStep plans a derive or filter at path; an expression error's column
// is placed inside the YAML value when the value is on one line.
func (pl *planner) planStep(path string, in *arrow.Schema, s transform.Step) *arrow.Schema {
	out, probs := transform.PlanStep(in, s)
	for _, e := range probs {
		fe := pl.stageBad(path, e.Key, e.Msg)
		if fe == nil || e.Column == 0 || pl.meta == nil {
			continue
		}
		if pos, ok := pl.meta.pos[joinPath(path, e.Key)]; ok && !pos.block {
			fe.Column = pos.col + e.Column - 1
			if pos.quoted {
				fe.Column++
			}
		}
	}
	return out
}

// planOutputs plans the direct outputs on rows and the windows with their
// outputs on their result rows; output names are unique across both.
func (pl *planner) planOutputs(r *Resolved, rows *arrow.Schema) {
	c := pl.cfg
	seen := map[string]string{}
	for i := range c.Outputs {
		op := pl.planOutput(fmt.Sprintf("outputs[%d]", i), &c.Outputs[i], rows, seen)
		r.Outputs = append(r.Outputs, op)
	}
	for i := range c.Windows {
		wp := pl.planWindow(fmt.Sprintf("windows[%d]", i), c.Windows[i], rows)
		wp.Output = pl.planOutput(wp.Path+".output", &c.Windows[i].Output, wp.Result, seen)
		r.Windows = append(r.Windows, wp)
	}
}

// planWindow plans one window operator on rows.
func (pl *planner) planWindow(p string, wc WindowConfig, rows *arrow.Schema) WindowPlan {
	c := pl.cfg
	bad := pl.bad
	if wc.Name != "" && !namePattern.MatchString(wc.Name) {
		bad(p+".name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", wc.Name)
	}
	if !pl.redisConfigured() {
		bad(p, "needs redis.url or redis.cluster_addrs (window state lives in Redis)")
	}
	if wc.IdleTimeout.D() <= c.Source.LeaseDuration.D() {
		bad(p+".idle_timeout", "must exceed source.lease_duration (%s), got %s: a crashed worker's shards look idle until a new owner takes their lease, and rows read after that would be late", c.Source.LeaseDuration.D(), wc.IdleTimeout.D())
	}
	if r := c.Source.IdleTimeBetweenReads.D(); r > 0 && wc.IdleTimeout.D() < 2*r {
		bad(p+".idle_timeout", "must be at least twice source.idle_time_between_reads (%s), got %s: a caught-up shard is read only that often, and a shard not read for idle_timeout holds the watermark as stalled", r, wc.IdleTimeout.D())
	}
	if wc.EmittedRetention.D() < time.Second {
		bad(p+".emitted_retention", "must be at least 1s, got %s", wc.EmittedRetention.D())
	}
	if wc.FlushInterval.D() == 0 {
		bad(p+".flush_interval", "must be positive: 0 is not \"flush every batch\" (a shard flushes every half of source.max_in_flight_batches anyway); omit it for 1s")
	}
	if wc.EmitInterval.D() <= 0 {
		bad(p+".emit_interval", "must be positive, got %s; omit it for 1s", wc.EmitInterval.D())
	}
	if wc.LateRows == string(window.LateUpdate) && wc.UpdateHorizon.D() == 0 {
		bad(p+".update_horizon", "must be positive with late_rows update (late rows update a window this long after it closed); omit it for 1h")
	}
	o := wc.Options(c.Name)
	o.Schema = rows
	kinds := btoi(pl.isSet(reflect.ValueOf(wc.Tumbling), p+".tumbling")) + btoi(wc.Hopping != nil) + btoi(wc.Session != nil)
	result, probs := window.Plan(o)
	for _, e := range probs {
		key := e.Key
		switch key {
		case "size", "slide", "gap":
			if kinds != 1 {
				continue // the one-of problem says it
			}
			switch {
			case wc.Session != nil:
				key = "session.gap"
			case wc.Hopping != nil:
				key = "hopping." + key
			default:
				key = "tumbling"
			}
		}
		pl.stageBad(p, key, e.Msg)
	}
	return WindowPlan{Path: p, Config: wc, Options: o, Result: result}
}

// lookupColumns are the names of the columns a lookup appends.
func lookupColumns(fields []enrich.Field) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.As
		if out[i] == "" {
			out[i] = f.From
		}
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// planOutput plans one output of rows at path p; seen holds the names of
// the outputs planned before it.
func (pl *planner) planOutput(p string, oc *OutputConfig, rows *arrow.Schema, seen map[string]string) OutputPlan {
	bad := pl.bad
	op := OutputPlan{Path: p, Name: oc.Name, Schema: rows, Firehose: oc.Firehose, S3: oc.S3}
	if oc.Name != "" {
		if !namePattern.MatchString(oc.Name) {
			bad(p+".name", "must be 1-64 characters of [a-zA-Z0-9_.-], got %q", oc.Name)
		} else if other, dup := seen[oc.Name]; dup {
			bad(p+".name", "%q is already the name of %s; output names must be unique", oc.Name, other)
		} else {
			seen[oc.Name] = p
		}
	}
	switch {
	case oc.Firehose != nil && oc.S3 == nil:
		op.Kind = "firehose"
		f, fp := oc.Firehose, p+".firehose"
		if f.DeliveryStream != "" && !namePattern.MatchString(f.DeliveryStream) {
			bad(fp+".delivery_stream", "must be a delivery stream name (1-64 of [a-zA-Z0-9_.-]), got %q", f.DeliveryStream)
		}
		var err error
		switch f.Format {
		case "ndjson":
			_, err = encode.NewNDJSON(rows)
		case "csv":
			_, err = encode.NewCSV(rows, encode.CSVOptions{})
		default:
			bad(fp+".format", "must be ndjson or csv, got %q", f.Format)
		}
		if err != nil {
			bad(fp+".format", "%v", err)
		}
		if f.Linger.D() < 0 || f.Linger.D() > time.Minute {
			bad(fp+".linger", "must be 0..1m, got %s", f.Linger.D())
		}
		if f.MaxInFlight < 1 || f.MaxInFlight > 64 {
			bad(fp+".max_in_flight", "must be 1..64, got %d", f.MaxInFlight)
		}
		if f.RetryTimeout.D() < time.Second {
			bad(fp+".retry_timeout", "must be at least 1s, got %s", f.RetryTimeout.D())
		}
		if f.MaxRowsPerRecord < 0 {
			bad(fp+".max_rows_per_record", "must be >= 0 (0: no cap), got %d", f.MaxRowsPerRecord)
		}
	case oc.S3 != nil && oc.Firehose == nil:
		op.Kind = "s3"
		s, sp := oc.S3, p+".s3"
		if s.RollBytes == 0 {
			bad(sp+".roll_bytes", "must be positive; omit it for %d (128 MiB)", s3out.DefaultRollBytes)
		}
		if s.RollInterval == 0 {
			bad(sp+".roll_interval", "must be positive; omit it for %s", s3out.DefaultRollInterval)
		}
		if s.RetryTimeout == 0 {
			bad(sp+".retry_timeout", "must be positive; omit it for %s", s3out.DefaultRetryTimeout)
		}
		if s.RollRecords <= 0 {
			bad(sp+".roll_records", "must be positive; omit it for 1,000,000, got %d", s.RollRecords)
		}
		for _, e := range s3out.Plan(s3Options(pl.cfg, s, rows)) {
			pl.stageBad(sp, e.Key, e.Msg)
		}
	}
	return op
}

// s3Options are an S3 output's options without the client.
func s3Options(cfg *Config, c *S3Config, schema *arrow.Schema) s3out.Options {
	return s3out.Options{
		Bucket: c.Bucket, Prefix: c.Prefix, Name: cfg.Name, Schema: schema,
		Compression: c.Compression, RollBytes: c.RollBytes, RollInterval: c.RollInterval.D(),
		PartitionBy: c.PartitionBy, RetryTimeout: c.RetryTimeout.D(), RollRecords: c.RollRecords,
	}
}

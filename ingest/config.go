package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/put"
	"github.com/shardflow/shardflow/processors/decode/lineparse"
)

// Config is one agent, as written in its YAML file.
type Config struct {
	AWS AWSConfig `yaml:"aws"`
	// StateFile is the checkpoint file (required): offsets of every file
	// and progress of every S3 object, written after each acknowledgement.
	StateFile string `yaml:"state_file"`
	// DeadLetterFile receives the lines that cannot be sent (default:
	// dead-letter.ndjson next to the state file).
	DeadLetterFile string `yaml:"dead_letter_file"`
	// ShutdownTimeout bounds the wait for in-flight puts on SIGTERM
	// (default 20s); what is not acknowledged by then is sent again after
	// the restart.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MetricsListen is the address of /metrics and /healthz (default
	// ":9091"); "off" disables it.
	MetricsListen string `yaml:"metrics_listen"`
	// ProgressInterval is how often a progress line is logged when stderr
	// is not a terminal (default 30s).
	ProgressInterval Duration     `yaml:"progress_interval"`
	Flows            []FlowConfig `yaml:"flows"`
}

// AWSConfig holds the region and optional endpoint overrides.
type AWSConfig struct {
	Region    string `yaml:"region"`
	Endpoints struct {
		Kinesis  string `yaml:"kinesis"`
		Firehose string `yaml:"firehose"`
		S3       string `yaml:"s3"`
	} `yaml:"endpoints"`
}

// FlowConfig is one flow: a source (file globs or an S3 prefix) into one
// destination (a Kinesis stream or a Firehose delivery stream).
type FlowConfig struct {
	Name string `yaml:"name"`
	// Files are the globs of the files to tail (filepath.Match syntax).
	Files []string `yaml:"files"`
	// S3 reads the objects under a prefix instead.
	S3 *S3Config `yaml:"s3"`
	// KinesisStream or FirehoseDeliveryStream is the destination.
	KinesisStream          string `yaml:"kinesis_stream"`
	FirehoseDeliveryStream string `yaml:"firehose_delivery_stream"`
	// PartitionKey is "random" (default), "line_hash" or "field:<name>".
	PartitionKey string `yaml:"partition_key"`
	// InitialPosition of files that have no checkpoint when the agent
	// starts: start_of_file (default) or end_of_file. Files that appear
	// later are always read from their start.
	InitialPosition string `yaml:"initial_position"`
	SkipHeaderLines int    `yaml:"skip_header_lines"`
	// Multiline joins lines into records (a line matching start_pattern
	// starts one).
	Multiline *MultilineConfig `yaml:"multiline"`
	// SingleLine trims each record and joins a multi-line record's lines
	// with spaces.
	SingleLine bool `yaml:"single_line"`
	// Convert turns each record into a JSON object.
	Convert *ConvertConfig `yaml:"convert"`
	// AddMetadata names the keys of host, file and byte-offset metadata
	// added to each record (each optional).
	AddMetadata *MetadataConfig `yaml:"add_metadata"`
	// Aggregate packs records into KPL aggregated records (Kinesis only);
	// the pipeline's consumer de-aggregates them.
	Aggregate         bool `yaml:"aggregate"`
	AggregateMaxBytes int  `yaml:"aggregate_max_bytes"`
	// Pack puts several records into each Firehose record (Firehose only;
	// default true): Firehose bills each record rounded up to 5 KiB.
	Pack *bool `yaml:"pack"`
	// Batch bounds each call.
	Batch struct {
		MaxRecords int      `yaml:"max_records"`
		MaxBytes   int      `yaml:"max_bytes"`
		Linger     Duration `yaml:"linger"`
	} `yaml:"batch"`
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxBufferBytes bounds records read but not yet acknowledged (default
	// 64 MiB); reading pauses beyond it.
	MaxBufferBytes int64 `yaml:"max_buffer_bytes"`
	// MaxLineBytes cuts longer lines; they go to dead-letter (default 1 MiB).
	MaxLineBytes     int      `yaml:"max_line_bytes"`
	FingerprintBytes int      `yaml:"fingerprint_bytes"`
	DiscoverInterval Duration `yaml:"discover_interval"`
	// CloseInactive: a file rotated away or deleted is finished after this
	// long without growing (default 5s).
	CloseInactive Duration `yaml:"close_inactive"`
	// PollInterval: how often idle files are looked at (default 250ms).
	PollInterval Duration `yaml:"poll_interval"`
}

// S3Config is an S3 source.
type S3Config struct {
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// Compression: auto (default: gzip when the key ends in .gz or the
	// object starts with the gzip magic), gzip or none.
	Compression string `yaml:"compression"`
	// PollInterval is how often the prefix is listed (default 30s).
	PollInterval Duration `yaml:"poll_interval"`
}

// MultilineConfig joins lines into records.
type MultilineConfig struct {
	StartPattern string   `yaml:"start_pattern"`
	MaxLines     int      `yaml:"max_lines"`
	Timeout      Duration `yaml:"timeout"`
}

// ConvertConfig turns records into JSON.
type ConvertConfig struct {
	// Format: csv, apache_common, apache_combined, apache_error, syslog
	// or regex.
	Format string `yaml:"format"`
	// FieldNames renames the format's fields, in order.
	FieldNames []string `yaml:"field_names"`
	CSV        struct {
		Delimiter string   `yaml:"delimiter"`
		Columns   []string `yaml:"columns"`
		Header    bool     `yaml:"header"`
		Numbers   bool     `yaml:"numbers"`
	} `yaml:"csv"`
	Regex    string `yaml:"regex"`
	Timezone string `yaml:"timezone"`
}

// MetadataConfig names metadata keys.
type MetadataConfig struct {
	Host   string `yaml:"host"`
	File   string `yaml:"file"`
	Offset string `yaml:"offset"`
}

// Duration is a time.Duration written as "250ms", "10s", "5m".
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

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads, interpolates (${VAR}, ${VAR:-default}), parses, defaults and
// validates an agent file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	c, err := Parse(raw, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("agent config %s: %w", path, err)
	}
	return c, nil
}

// Parse is Load for bytes already read.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	expanded, err := interpolate(raw, lookup)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

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

// Defaults.
const (
	DefaultShutdownTimeout = 20 * time.Second
	DefaultMaxBufferBytes  = 64 << 20
	DefaultPollInterval    = 250 * time.Millisecond
	DefaultS3PollInterval  = 30 * time.Second
)

func (c *Config) applyDefaults() {
	if c.AWS.Region == "" {
		c.AWS.Region = "us-east-1"
	}
	if c.DeadLetterFile == "" && c.StateFile != "" {
		c.DeadLetterFile = filepath.Join(filepath.Dir(c.StateFile), "dead-letter.ndjson")
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if c.MetricsListen == "" {
		c.MetricsListen = ":9091"
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = Duration(30 * time.Second)
	}
	for i := range c.Flows {
		f := &c.Flows[i]
		if f.PartitionKey == "" {
			f.PartitionKey = lines.KeyRandom
		}
		if f.InitialPosition == "" {
			f.InitialPosition = "start_of_file"
		}
		if f.Pack == nil {
			on := true
			f.Pack = &on
		}
		if f.MaxBufferBytes == 0 {
			f.MaxBufferBytes = DefaultMaxBufferBytes
		}
		if f.MaxLineBytes == 0 {
			f.MaxLineBytes = 1 << 20
		}
		if f.PollInterval == 0 {
			f.PollInterval = Duration(DefaultPollInterval)
		}
		if s := f.S3; s != nil {
			if s.Compression == "" {
				s.Compression = "auto"
			}
			if s.PollInterval == 0 {
				s.PollInterval = Duration(DefaultS3PollInterval)
			}
		}
	}
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// Validate checks every field and returns all problems at once, each
// naming its path.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if c.StateFile == "" {
		bad("state_file", "is required (where the agent keeps the offsets it delivered)")
	}
	if c.ShutdownTimeout.D() < time.Second {
		bad("shutdown_timeout", "must be at least 1s")
	}
	if len(c.Flows) == 0 {
		bad("flows", "must have at least one flow")
	}
	names := map[string]int{}
	for i, f := range c.Flows {
		p := fmt.Sprintf("flows[%d]", i)
		if !namePattern.MatchString(f.Name) {
			bad(p+".name", "must be 1-64 of [a-zA-Z0-9_.-], got %q", f.Name)
		} else if j, dup := names[f.Name]; dup {
			bad(p+".name", "duplicate flow name %q (also flows[%d])", f.Name, j)
		}
		names[f.Name] = i
		switch {
		case len(f.Files) > 0 && f.S3 != nil:
			bad(p, "set files or s3, not both")
		case len(f.Files) == 0 && f.S3 == nil:
			bad(p, "set files (globs) or s3 (a bucket and prefix)")
		}
		for j, g := range f.Files {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				bad(fmt.Sprintf("%s.files[%d]", p, j), "%q is not a valid glob", g)
			}
		}
		if s := f.S3; s != nil {
			if s.Bucket == "" {
				bad(p+".s3.bucket", "is required")
			}
			if s.Compression != "auto" && s.Compression != "gzip" && s.Compression != "none" {
				bad(p+".s3.compression", "must be auto, gzip or none, got %q", s.Compression)
			}
			if s.PollInterval.D() < 10*time.Millisecond {
				bad(p+".s3.poll_interval", "must be at least 10ms")
			}
		}
		kin, fh := f.KinesisStream != "", f.FirehoseDeliveryStream != ""
		switch {
		case kin == fh:
			bad(p, "set exactly one of kinesis_stream and firehose_delivery_stream")
		case kin && !namePattern.MatchString(f.KinesisStream):
			bad(p+".kinesis_stream", "must be a stream name (1-64 of [a-zA-Z0-9_.-]), got %q", f.KinesisStream)
		case fh && !namePattern.MatchString(f.FirehoseDeliveryStream):
			bad(p+".firehose_delivery_stream", "must be a delivery stream name (1-64 of [a-zA-Z0-9_.-]), got %q", f.FirehoseDeliveryStream)
		}
		if f.Aggregate && !kin {
			bad(p+".aggregate", "applies to kinesis_stream only (Firehose does not de-aggregate)")
		}
		if mode, _ := partitionKey(f.PartitionKey); mode == "" {
			bad(p+".partition_key", "must be random, line_hash or field:<name>, got %q", f.PartitionKey)
		}
		if f.InitialPosition != "start_of_file" && f.InitialPosition != "end_of_file" {
			bad(p+".initial_position", "must be start_of_file or end_of_file, got %q", f.InitialPosition)
		}
		if f.SkipHeaderLines < 0 {
			bad(p+".skip_header_lines", "must not be negative")
		}
		if m := f.Multiline; m != nil {
			if _, err := regexp.Compile(m.StartPattern); err != nil || m.StartPattern == "" {
				bad(p+".multiline.start_pattern", "must be a regular expression (RE2), got %q", m.StartPattern)
			}
		}
		if cv := f.Convert; cv != nil {
			if _, err := convertOptions(cv); err != nil {
				bad(p+".convert", "%v", err)
			}
		}
		if f.MaxLineBytes < 16 || f.MaxLineBytes > put.KinesisMaxRecordBytes {
			bad(p+".max_line_bytes", "must be 16..%d, got %d", put.KinesisMaxRecordBytes, f.MaxLineBytes)
		}
		if f.MaxBufferBytes < 1<<20 {
			bad(p+".max_buffer_bytes", "must be at least 1 MiB, got %d", f.MaxBufferBytes)
		}
		if f.Batch.MaxRecords < 0 || f.Batch.MaxRecords > put.MaxCallRecords {
			bad(p+".batch.max_records", "must be 1..%d", put.MaxCallRecords)
		}
		if f.PollInterval.D() < time.Millisecond {
			bad(p+".poll_interval", "must be at least 1ms")
		}
	}
	return errors.Join(errs...)
}

// partitionKey splits "field:<name>".
func partitionKey(s string) (mode, field string) {
	switch {
	case s == lines.KeyRandom, s == lines.KeyLineHash:
		return s, ""
	case strings.HasPrefix(s, "field:") && len(s) > len("field:"):
		return lines.KeyField, s[len("field:"):]
	}
	return "", ""
}

func convertOptions(cv *ConvertConfig) (*lines.Convert, error) {
	c := &lines.Convert{Format: lineparse.Format(cv.Format), FieldNames: cv.FieldNames, Columns: cv.CSV.Columns,
		Header: cv.CSV.Header, Numbers: cv.CSV.Numbers, Regex: cv.Regex}
	switch d := cv.CSV.Delimiter; {
	case d == "":
	case d == `\t` || d == "tab" || d == "\t":
		c.Delimiter = '\t'
	case len(d) == 1:
		c.Delimiter = d[0]
	default:
		return nil, fmt.Errorf("csv.delimiter must be one byte, got %q", d)
	}
	if cv.Timezone != "" {
		loc, err := time.LoadLocation(cv.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %v", cv.Timezone, err)
		}
		c.Location = loc
	}
	if cv.Format != string(lineparse.CSV) && (cv.CSV.Delimiter != "" || len(cv.CSV.Columns) > 0 || cv.CSV.Header || cv.CSV.Numbers) {
		return nil, fmt.Errorf("csv options apply to format csv only")
	}
	// Build once to check the format and its options.
	if _, err := lines.New(lines.Options{Convert: c, MaxRecordBytes: 1}); err != nil {
		return nil, err
	}
	return c, nil
}

package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// EnvFile is the path, relative to the module root, of the file that
// deploy/local/up writes.
const EnvFile = "deploy/local/.state/env"

// Hint is appended to every failure caused by a missing local service.
const Hint = "start the local stack with `make up` (or run the tests with `make test`, which does it)"

// dialTimeout bounds the reachability check of each service.
const dialTimeout = 2 * time.Second

// Env holds the endpoints of the local stack.
type Env struct {
	KinesisEndpoint  string // SHARDFLOW_KINESIS_ENDPOINT, e.g. http://127.0.0.1:4567
	DynamoDBEndpoint string // SHARDFLOW_DYNAMODB_ENDPOINT
	S3Endpoint       string // SHARDFLOW_S3_ENDPOINT
	S3Bucket         string // SHARDFLOW_S3_BUCKET
	FirehoseEndpoint string // SHARDFLOW_FIREHOSE_ENDPOINT
	RedisURL         string // SHARDFLOW_REDIS_URL, e.g. redis://127.0.0.1:6379/0
	PostgresURL      string // SHARDFLOW_POSTGRES_URL (a superuser, e.g. postgres)
	Region           string // AWS_REGION (default us-east-1)

	redisClusterAddrs string // SHARDFLOW_REDIS_CLUSTER_ADDRS (comma separated; RedisCluster)
	accessKeyID       string // AWS_ACCESS_KEY_ID (default "local")
	secretAccessKey   string // AWS_SECRET_ACCESS_KEY (default "local")
}

// variable names, in the order they are reported when missing.
var required = []struct {
	name  string
	field func(*Env) *string
}{
	{"SHARDFLOW_KINESIS_ENDPOINT", func(e *Env) *string { return &e.KinesisEndpoint }},
	{"SHARDFLOW_DYNAMODB_ENDPOINT", func(e *Env) *string { return &e.DynamoDBEndpoint }},
	{"SHARDFLOW_S3_ENDPOINT", func(e *Env) *string { return &e.S3Endpoint }},
	{"SHARDFLOW_S3_BUCKET", func(e *Env) *string { return &e.S3Bucket }},
	{"SHARDFLOW_FIREHOSE_ENDPOINT", func(e *Env) *string { return &e.FirehoseEndpoint }},
	{"SHARDFLOW_REDIS_URL", func(e *Env) *string { return &e.RedisURL }},
	{"SHARDFLOW_POSTGRES_URL", func(e *Env) *string { return &e.PostgresURL }},
}

var optional = []struct {
	name, def string
	field     func(*Env) *string
}{
	{"AWS_REGION", "us-east-1", func(e *Env) *string { return &e.Region }},
	{"AWS_ACCESS_KEY_ID", "local", func(e *Env) *string { return &e.accessKeyID }},
	{"AWS_SECRET_ACCESS_KEY", "local", func(e *Env) *string { return &e.secretAccessKey }},
	{"SHARDFLOW_REDIS_CLUSTER_ADDRS", "", func(e *Env) *string { return &e.redisClusterAddrs }},
}

// Load returns the local stack's endpoints. Each comes from the process
// environment or, when not set there, from deploy/local/.state/env (found by
// walking up from the working directory to the directory holding go.mod).
// It fails the test when any endpoint is still unknown.
func Load(tb testing.TB) *Env {
	tb.Helper()
	e := &Env{}
	var missing []string
	for _, v := range required {
		if *v.field(e) = os.Getenv(v.name); *v.field(e) == "" {
			missing = append(missing, v.name)
		}
	}
	for _, v := range optional {
		*v.field(e) = os.Getenv(v.name)
	}
	if len(missing) == 0 && e.Region != "" && e.accessKeyID != "" && e.secretAccessKey != "" {
		return e
	}

	file, fileVars, err := readEnvFile()
	if len(missing) > 0 && err != nil {
		tb.Fatalf("testenv: %s not set, and %v: %s", strings.Join(missing, ", "), err, Hint)
	}
	for _, v := range required {
		if *v.field(e) == "" {
			*v.field(e) = fileVars[v.name]
		}
	}
	for _, v := range optional {
		if *v.field(e) == "" {
			*v.field(e) = fileVars[v.name]
		}
		if *v.field(e) == "" {
			*v.field(e) = v.def
		}
	}
	missing = missing[:0]
	for _, v := range required {
		if *v.field(e) == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		tb.Fatalf("testenv: %s not set in the environment nor in %s: %s", strings.Join(missing, ", "), file, Hint)
	}
	return e
}

// readEnvFile finds and parses deploy/local/.state/env.
func readEnvFile() (path string, vars map[string]string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(root, filepath.FromSlash(EnvFile))
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return path, nil, fmt.Errorf("%s does not exist (the local stack is not up)", path)
		}
		return path, nil, err
	}
	return path, parseEnv(data), nil
}

// moduleRoot walks up from the working directory to the directory that
// holds go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod found in %s or any parent directory", wd)
		}
		dir = parent
	}
}

// parseEnv reads shell-style KEY=value lines: blank lines and # comments are
// ignored, an optional leading "export " is dropped, and one level of single
// or double quotes around the value is removed.
func parseEnv(data []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	return vars
}

// AWSConfig returns an AWS configuration for the local stack: static
// credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, default "local"),
// the region, and the SDK's default retryer. Nothing is read from ~/.aws or
// the instance metadata service.
func (e *Env) AWSConfig() aws.Config {
	key, secret, region := e.accessKeyID, e.secretAccessKey, e.Region
	if key == "" {
		key = "local"
	}
	if secret == "" {
		secret = "local"
	}
	if region == "" {
		region = "us-east-1"
	}
	return aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(key, secret, "")),
	}
}

// Kinesis returns a client for kinesalite. It fails the test when the
// endpoint does not answer.
func (e *Env) Kinesis(tb testing.TB) *kinesis.Client {
	tb.Helper()
	mustAnswer(tb, "Kinesis (kinesalite)", "SHARDFLOW_KINESIS_ENDPOINT", e.KinesisEndpoint)
	return kinesis.NewFromConfig(e.AWSConfig(), func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(e.KinesisEndpoint)
	})
}

// DynamoDB returns a client for dynalite. It fails the test when the
// endpoint does not answer.
func (e *Env) DynamoDB(tb testing.TB) *dynamodb.Client {
	tb.Helper()
	mustAnswer(tb, "DynamoDB (dynalite)", "SHARDFLOW_DYNAMODB_ENDPOINT", e.DynamoDBEndpoint)
	return dynamodb.NewFromConfig(e.AWSConfig(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(e.DynamoDBEndpoint)
	})
}

// S3 returns a path-style client for s3-local. It fails the test when the
// endpoint does not answer.
func (e *Env) S3(tb testing.TB) *s3.Client {
	tb.Helper()
	mustAnswer(tb, "S3 (s3-local)", "SHARDFLOW_S3_ENDPOINT", e.S3Endpoint)
	return s3.NewFromConfig(e.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(e.S3Endpoint)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}

// Firehose returns a client for firehose-local. It fails the test when the
// endpoint does not answer.
func (e *Env) Firehose(tb testing.TB) *firehose.Client {
	tb.Helper()
	mustAnswer(tb, "Firehose (firehose-local)", "SHARDFLOW_FIREHOSE_ENDPOINT", e.FirehoseEndpoint)
	return firehose.NewFromConfig(e.AWSConfig(), func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(e.FirehoseEndpoint)
	})
}

// mustAnswer fails the test unless a TCP connection to the endpoint's host
// and port succeeds within dialTimeout.
func mustAnswer(tb testing.TB, service, variable, endpoint string) {
	tb.Helper()
	if err := dial(endpoint); err != nil {
		tb.Fatalf("testenv: %s does not answer at %s (%s): %v; %s", service, endpoint, variable, err, Hint)
	}
}

// dial checks that something accepts TCP connections at the endpoint, a URL
// (http://, redis://, postgres://) or a bare host:port.
func dial(endpoint string) error {
	if endpoint == "" {
		return errors.New("no endpoint configured")
	}
	hostport := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return fmt.Errorf("bad endpoint URL: %w", err)
		}
		hostport = u.Host
		if u.Port() == "" {
			port := map[string]string{"http": "80", "https": "443", "redis": "6379", "rediss": "6379", "postgres": "5432", "postgresql": "5432"}[u.Scheme]
			if port == "" {
				return fmt.Errorf("no port in %q", endpoint)
			}
			hostport = net.JoinHostPort(u.Hostname(), port)
		}
	}
	conn, err := net.DialTimeout("tcp", hostport, dialTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// UniqueName returns a name for a resource owned by this test:
// prefix-<test name>-<random>, at most 64 characters of [a-zA-Z0-9_.-] (valid
// for Kinesis streams, DynamoDB tables, Firehose delivery streams and Redis
// keys; S3 bucket names additionally need lower case and no '_').
func UniqueName(tb testing.TB, prefix string) string {
	tb.Helper()
	const maxLen = 64
	suffix := randomHex(tb, 4) // 8 characters
	prefix = sanitize(prefix)
	if len(prefix) > 24 {
		prefix = prefix[:24]
	}
	name := sanitize(tb.Name())
	room := maxLen - len(suffix) - 1
	if prefix != "" {
		room -= len(prefix) + 1
	}
	if len(name) > room {
		name = name[len(name)-room:] // keep the end: subtest names are there
	}
	name = strings.Trim(name, "-.")
	parts := make([]string, 0, 3)
	for _, p := range []string{prefix, name, suffix} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "-")
}

// sanitize maps every character outside [a-zA-Z0-9_.-] to '-' and squeezes
// runs of '-'.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			r = '-'
		}
		if r == '-' && strings.HasSuffix(b.String(), "-") {
			continue
		}
		b.WriteRune(r)
	}
	return strings.Trim(b.String(), "-")
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// cleanupContext is the context for cleanup work: the test's own context is
// already cancelled when cleanups run.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
)

var allVars = []string{
	"SHARDFLOW_KINESIS_ENDPOINT", "SHARDFLOW_DYNAMODB_ENDPOINT", "SHARDFLOW_S3_ENDPOINT",
	"SHARDFLOW_S3_BUCKET", "SHARDFLOW_FIREHOSE_ENDPOINT", "SHARDFLOW_REDIS_URL",
	"SHARDFLOW_POSTGRES_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestLoad(t *testing.T) {
	env := testenv.Load(t)
	for name, v := range map[string]string{
		"KinesisEndpoint": env.KinesisEndpoint, "DynamoDBEndpoint": env.DynamoDBEndpoint,
		"S3Endpoint": env.S3Endpoint, "S3Bucket": env.S3Bucket, "FirehoseEndpoint": env.FirehoseEndpoint,
		"RedisURL": env.RedisURL, "PostgresURL": env.PostgresURL, "Region": env.Region,
	} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	creds, err := env.AWSConfig().Credentials.Retrieve(ctx(t))
	if err != nil || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		t.Errorf("AWSConfig credentials: %+v, %v", creds, err)
	}
}

// writeModule makes a directory holding go.mod and, when env is not empty,
// deploy/local/.state/env; it returns a subdirectory to run from.
func writeModule(t *testing.T, env string) string {
	root := t.TempDir()
	sub := filepath.Join(root, "pkg", "inner")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if env != "" {
		dir := filepath.Join(root, "deploy", "local", ".state")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sub
}

func clearVars(t *testing.T) {
	for _, v := range allVars {
		t.Setenv(v, "")
	}
}

func TestLoadFromEnvFile(t *testing.T) {
	clearVars(t)
	t.Setenv("SHARDFLOW_S3_BUCKET", "from-process-env") // the process environment wins
	t.Chdir(writeModule(t, `# comment
SHARDFLOW_KINESIS_ENDPOINT=http://127.0.0.1:1001
SHARDFLOW_DYNAMODB_ENDPOINT="http://127.0.0.1:1002"
export SHARDFLOW_S3_ENDPOINT='http://127.0.0.1:1003'
SHARDFLOW_S3_BUCKET=from-file

SHARDFLOW_FIREHOSE_ENDPOINT=http://127.0.0.1:1004
SHARDFLOW_REDIS_URL=redis://127.0.0.1:1005/0
SHARDFLOW_POSTGRES_URL=postgres://postgres@127.0.0.1:1006/postgres?sslmode=disable
AWS_REGION=eu-west-1
AWS_PAGER=
`))
	env := testenv.Load(t)
	want := testenv.Env{
		KinesisEndpoint:  "http://127.0.0.1:1001",
		DynamoDBEndpoint: "http://127.0.0.1:1002",
		S3Endpoint:       "http://127.0.0.1:1003",
		S3Bucket:         "from-process-env",
		FirehoseEndpoint: "http://127.0.0.1:1004",
		RedisURL:         "redis://127.0.0.1:1005/0",
		PostgresURL:      "postgres://postgres@127.0.0.1:1006/postgres?sslmode=disable",
		Region:           "eu-west-1",
	}
	fields := func(e *testenv.Env) []string {
		return []string{e.KinesisEndpoint, e.DynamoDBEndpoint, e.S3Endpoint, e.S3Bucket,
			e.FirehoseEndpoint, e.RedisURL, e.PostgresURL, e.Region}
	}
	if got, want := fields(env), fields(&want); !slices.Equal(got, want) {
		t.Errorf("Load from file:\n got %q\nwant %q", got, want)
	}
	creds, err := env.AWSConfig().Credentials.Retrieve(ctx(t))
	if err != nil || creds.AccessKeyID != "local" || creds.SecretAccessKey != "local" {
		t.Errorf("default credentials: %+v, %v", creds, err)
	}
}

// fakeTB records failures and skips instead of ending the real test.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msgs    []string
}

func (f *fakeTB) record(failed bool, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if failed {
		f.failed = true
	} else {
		f.skipped = true
	}
	f.msgs = append(f.msgs, msg)
}
func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Errorf(format string, args ...any) { f.record(true, fmt.Sprintf(format, args...)) }
func (f *fakeTB) Error(args ...any)                 { f.record(true, fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)                 { f.Error(args...); runtime.Goexit() }
func (f *fakeTB) FailNow()                          { f.record(true, "FailNow"); runtime.Goexit() }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.record(false, fmt.Sprintf(format, args...))
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any) { f.record(false, fmt.Sprint(args...)); runtime.Goexit() }
func (f *fakeTB) SkipNow()         { f.record(false, "SkipNow"); runtime.Goexit() }

// mustFail runs fn with a fakeTB and checks that it failed (not skipped)
// with a message containing every one of want.
func mustFail(t *testing.T, fn func(tb testing.TB), want ...string) {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	msg := strings.Join(f.msgs, "\n")
	switch {
	case f.skipped:
		t.Fatalf("skipped instead of failing: %s", msg)
	case !f.failed:
		t.Fatalf("did not fail")
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("failure message lacks %q:\n%s", w, msg)
		}
	}
}

func TestLoadFailsWithoutStack(t *testing.T) {
	clearVars(t)
	t.Chdir(writeModule(t, ""))
	mustFail(t, func(tb testing.TB) { testenv.Load(tb) },
		"SHARDFLOW_KINESIS_ENDPOINT", "SHARDFLOW_POSTGRES_URL", "deploy/local/.state/env", "make up", "make test")
}

func TestLoadFailsOnIncompleteEnvFile(t *testing.T) {
	clearVars(t)
	t.Chdir(writeModule(t, "SHARDFLOW_KINESIS_ENDPOINT=http://127.0.0.1:1001\n"))
	mustFail(t, func(tb testing.TB) { testenv.Load(tb) }, "SHARDFLOW_REDIS_URL", "make up")
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return fmt.Sprint(port)
}

func TestMissingServiceFails(t *testing.T) {
	p := closedPort(t)
	down := &testenv.Env{
		KinesisEndpoint:  "http://127.0.0.1:" + p,
		DynamoDBEndpoint: "http://127.0.0.1:" + p,
		S3Endpoint:       "http://127.0.0.1:" + p,
		S3Bucket:         "b",
		FirehoseEndpoint: "http://127.0.0.1:" + p,
		RedisURL:         "redis://127.0.0.1:" + p + "/0",
		PostgresURL:      "postgres://postgres@127.0.0.1:" + p + "/postgres?sslmode=disable",
		Region:           "us-east-1",
	}
	for name, fn := range map[string]func(testing.TB){
		"Kinesis":    func(tb testing.TB) { down.Kinesis(tb) },
		"DynamoDB":   func(tb testing.TB) { down.DynamoDB(tb) },
		"S3":         func(tb testing.TB) { down.S3(tb) },
		"Firehose":   func(tb testing.TB) { down.Firehose(tb) },
		"Redis":      func(tb testing.TB) { down.Redis(tb) },
		"PostgreSQL": func(tb testing.TB) { down.PostgresDB(tb) },
	} {
		t.Run(name, func(t *testing.T) {
			mustFail(t, fn, name, "127.0.0.1:"+p, "make up")
		})
	}
}

func TestKinesis(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	if _, err := kc.ListStreams(ctx(t), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams: %v", err)
	}
	name := testenv.UniqueName(t, "stream")
	t.Run("CreateStream", func(t *testing.T) {
		testenv.CreateStream(t, kc, name, 2)
		out, err := kc.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if s := out.StreamDescriptionSummary; s.StreamStatus != types.StreamStatusActive || aws.ToInt32(s.OpenShardCount) != 2 {
			t.Fatalf("stream %s: status %s, %d open shards", name, s.StreamStatus, aws.ToInt32(s.OpenShardCount))
		}
		if _, err := kc.PutRecord(ctx(t), &kinesis.PutRecordInput{
			StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("hello"),
		}); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	})
	// The subtest's cleanup deleted the stream (kinesalite may still show it
	// DELETING for a moment).
	out, err := kc.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
	case err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusDeleting:
	case err == nil:
		t.Errorf("stream %s after cleanup: %s, want deleted", name, out.StreamDescriptionSummary.StreamStatus)
	default:
		t.Errorf("stream %s after cleanup: %v", name, err)
	}
}

func TestDynamoDB(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	if _, err := env.DynamoDB(t).ListTables(ctx(t), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	c := env.S3(t)
	if _, err := c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(env.S3Bucket)}); err != nil {
		t.Fatalf("HeadBucket %s: %v", env.S3Bucket, err)
	}
	key := "testenv/" + testenv.UniqueName(t, "obj")
	if _, err := c.PutObject(ctx(t), &s3.PutObjectInput{
		Bucket: aws.String(env.S3Bucket), Key: aws.String(key), Body: strings.NewReader("hello"),
	}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(env.S3Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || string(body) != "hello" {
		t.Errorf("GetObject body %q, %v", body, err)
	}
	if _, err := c.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: aws.String(env.S3Bucket), Key: aws.String(key)}); err != nil {
		t.Errorf("DeleteObject: %v", err)
	}
}

func TestFirehose(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	if _, err := env.Firehose(t).ListDeliveryStreams(ctx(t), &firehose.ListDeliveryStreamsInput{}); err != nil {
		t.Fatalf("ListDeliveryStreams: %v", err)
	}
}

func TestRedis(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	var (
		inner    *redis.Client
		prefixes []string
		keys     []string
	)
	t.Run("use", func(t *testing.T) {
		rdb, prefix := env.Redis(t)
		_, prefix2 := env.Redis(t)
		if prefix == prefix2 || !strings.HasPrefix(prefix, "sftest:") {
			t.Errorf("prefixes %q, %q: want distinct, under sftest:", prefix, prefix2)
		}
		inner, prefixes = rdb, []string{prefix, prefix2}
		keys = []string{prefix + "a", prefix + "{tag}:b", prefix2 + "c"}
		for i, k := range keys {
			if err := rdb.Set(ctx(t), k, i, time.Hour).Err(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
		}
		if v, err := rdb.Get(ctx(t), keys[1]).Int(); err != nil || v != 1 {
			t.Fatalf("GET %s = %d, %v", keys[1], v, err)
		}
	})
	if inner == nil {
		return
	}
	if err := inner.Ping(ctx(t)).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("client after cleanup: want ErrClosed, got %v", err)
	}
	rdb, _ := env.Redis(t)
	n, err := rdb.Exists(ctx(t), keys...).Result()
	if err != nil || n != 0 {
		t.Errorf("keys under %v after cleanup: %d exist (%v), want 0", prefixes, n, err)
	}
}

func TestPostgresDB(t *testing.T) {
	t.Parallel()
	env := testenv.Load(t)
	names := make([]string, 3)
	t.Run("group", func(t *testing.T) {
		for i := range names {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				t.Parallel()
				dbURL := env.PostgresDB(t)
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				names[i] = strings.TrimPrefix(u.Path, "/")
				if !regexp.MustCompile(`^sf_test_[0-9a-f]+$`).MatchString(names[i]) {
					t.Errorf("database name %q", names[i])
				}
				conn, err := pgx.Connect(ctx(t), dbURL)
				if err != nil {
					t.Fatalf("connect %s: %v", dbURL, err)
				}
				// Left open on purpose: the drop at cleanup must not wait for it.
				t.Cleanup(func() { conn.Close(context.Background()) })
				var db string
				var sum int
				if _, err := conn.Exec(ctx(t), `CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2), (3)`); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRow(ctx(t), `SELECT current_database(), sum(v) FROM t`).Scan(&db, &sum); err != nil {
					t.Fatal(err)
				}
				if db != names[i] || sum != 6 {
					t.Errorf("current_database %q sum %d; want %q 6", db, sum, names[i])
				}
			})
		}
	})
	conn, err := pgx.Connect(ctx(t), env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	if err := conn.QueryRow(ctx(t), `SELECT count(*) FROM pg_database WHERE datname = ANY($1)`, names).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the databases %v still exist after cleanup", left, names)
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
	seen := map[string]bool{}
	check := func(t *testing.T, prefix, wantStart string) {
		for range 3 {
			n := testenv.UniqueName(t, prefix)
			if !valid.MatchString(n) {
				t.Errorf("UniqueName(%q) = %q: not [a-zA-Z0-9_.-]{1,64}", prefix, n)
			}
			if seen[n] {
				t.Errorf("UniqueName(%q) = %q twice", prefix, n)
			}
			seen[n] = true
			if !strings.HasPrefix(n, wantStart) {
				t.Errorf("UniqueName(%q) = %q: want it to start with %q", prefix, n, wantStart)
			}
		}
	}
	check(t, "stream", "stream-TestUniqueName-")
	check(t, "", "TestUniqueName-")
	check(t, "with space/and#hash", "with-space-and-hash-TestUniqueName-")
	check(t, strings.Repeat("p", 100), strings.Repeat("p", 24)+"-TestUniqueName-")
	t.Run("a very long subtest name with spaces, slashes / and ünïcödé that goes on and on and on", func(t *testing.T) {
		check(t, "tbl", "tbl-")
		if n := testenv.UniqueName(t, "tbl"); !strings.Contains(n, "on_and_on_and_on-") {
			t.Errorf("UniqueName = %q: want the end of the test name kept", n)
		}
	})
}

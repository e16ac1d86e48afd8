package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func creds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("local", "local", "")
}

// fakeS3 is gofakes3 in memory with one bucket; it records the
// Authorization of the last PutObject so the test can check which
// credentials and region the emulator signed with.
func fakeS3(t *testing.T) (*s3.Client, string, *atomic.Value) {
	t.Helper()
	var lastAuth atomic.Value
	lastAuth.Store("")
	h := gofakes3.New(s3mem.New()).Server()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") >= 2 { // PutObject, not CreateBucket
			lastAuth.Store(r.Header.Get("Authorization"))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(ts.URL), UsePathStyle: true, Credentials: creds()})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("out")}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return c, ts.URL, &lastAuth
}

func TestServesAndFlushesOnShutdown(t *testing.T) {
	s3c, s3URL, lastAuth := fakeS3(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDLOCALTEST", "AWS_SECRET_ACCESS_KEY": "secret"}
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-s3-endpoint", s3URL, "-region", "eu-west-1"},
			func(k string) string { return env[k] }, out, io.Discard)
	}()

	var url string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			var found bool
			url, found = strings.CutPrefix(line, "firehose-local listening on ")
			if !found || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
				t.Fatalf("first line = %q", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no listening line after 5s")
		}
	}

	fh := firehose.New(firehose.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url), Credentials: creds()})
	cr, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("cmd"),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN:      aws.String("arn:aws:s3:::out"),
			RoleARN:        aws.String("arn:aws:iam::000000000000:role/firehose"),
			BufferingHints: &types.BufferingHints{SizeInMBs: aws.Int32(128), IntervalInSeconds: aws.Int32(900)},
		},
	})
	if err != nil {
		t.Fatalf("CreateDeliveryStream: %v", err)
	}
	if got := aws.ToString(cr.DeliveryStreamARN); got != "arn:aws:firehose:eu-west-1:000000000000:deliverystream/cmd" {
		t.Errorf("ARN = %q: -region not applied", got)
	}
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("cmd")})
		if err != nil {
			t.Fatalf("DescribeDeliveryStream: %v", err)
		}
		if d.DeliveryStreamDescription.DeliveryStreamStatus == types.DeliveryStreamStatusActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stream not ACTIVE after 3s")
		}
	}
	if _, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{
		DeliveryStreamName: aws.String("cmd"),
		Records:            []types.Record{{Data: []byte("one\n")}, {Data: []byte("two\n")}},
	}); err != nil {
		t.Fatalf("PutRecordBatch: %v", err)
	}

	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
	list, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("out")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("after shutdown: %v, %+v; want the buffer flushed as one object", err, list)
	}
	obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("out"), Key: list.Contents[0].Key})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer obj.Body.Close()
	if b, _ := io.ReadAll(obj.Body); string(b) != "one\ntwo\n" {
		t.Errorf("flushed object = %q", b)
	}
	if auth, _ := lastAuth.Load().(string); !strings.Contains(auth, "Credential=AKIDLOCALTEST/") || !strings.Contains(auth, "/eu-west-1/s3/") {
		t.Errorf("S3 Authorization = %q, want the environment's key and -region", auth)
	}
}

func TestFlagErrors(t *testing.T) {
	noEnv := func(string) string { return "" }
	ctx := context.Background()
	if err := run(ctx, []string{"-addr", "127.0.0.1:0"}, noEnv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-s3-endpoint is required") {
		t.Errorf("without -s3-endpoint: %v", err)
	}
	if err := run(ctx, []string{"-s3-endpoint", "127.0.0.1:4569"}, noEnv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not an absolute URL") {
		t.Errorf("endpoint without scheme: %v", err)
	}
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-s3-endpoint", "http://127.0.0.1:4569", "-redshift-postgres-url", "mysql://127.0.0.1/x"}, noEnv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "RedshiftPostgresURL") || !strings.Contains(err.Error(), "postgres://") {
		t.Errorf("-redshift-postgres-url mysql://: %v", err)
	}
}

func TestDefaultCredentials(t *testing.T) {
	c := newS3Client("http://127.0.0.1:1", "us-east-1", func(string) string { return "" })
	v, err := c.Options().Credentials.Retrieve(context.Background())
	if err != nil || v.AccessKeyID != "local" || v.SecretAccessKey != "local" {
		t.Errorf("credentials = %+v, %v; want local/local", v, err)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// lockedBuffer collects run's stdout while the test reads it.
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

// start runs the command and returns its base URL (from the first stdout
// line), a stop function and the channel run's result arrives on.
func start(t *testing.T, args ...string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, io.Discard) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if line, _, ok := strings.Cut(out.String(), "\n"); ok {
			url, found := strings.CutPrefix(line, "s3-local listening on ")
			if !found || !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
				cancel()
				t.Fatalf("first line = %q", line)
			}
			return url, cancel, done
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("no listening line after 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stopAndWait(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after shutdown")
	}
}

func client(url string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestServesBucketsFromDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s3")
	url, cancel, done := start(t, "-addr", "127.0.0.1:0", "-dir", dir, "-bucket", "alpha", "-bucket", "beta")
	c := client(url)
	ctx := context.Background()
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"alpha", "beta"}) {
		t.Fatalf("buckets = %v, want [alpha beta]", names)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String("x/y.txt"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "buckets", "alpha", "x", "y.txt")); err != nil || string(b) != "hello" {
		t.Errorf("object on disk = %q, %v", b, err)
	}
	// A prefix nothing was written under lists empty (as on S3), while a
	// bucket that does not exist is still NoSuchBucket.
	for prefix, want := range map[string]int{"x/": 1, "nothing-here/": 0, "nothing/deeper/": 0} {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha"), Prefix: aws.String(prefix)})
		if err != nil {
			t.Errorf("list alpha/%s: %v", prefix, err)
		} else if len(out.Contents) != want {
			t.Errorf("list alpha/%s: %d objects, want %d", prefix, len(out.Contents), want)
		}
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("gamma"), Prefix: aws.String("x/")}); err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("list of a missing bucket: err = %v, want NoSuchBucket", err)
	}
	stopAndWait(t, cancel, done)

	// A restart on the same directory keeps the data; -bucket is idempotent.
	url, cancel, done = start(t, "-addr", "127.0.0.1:0", "-dir", dir, "-bucket", "alpha")
	defer stopAndWait(t, cancel, done)
	obj, err := client(url).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alpha"), Key: aws.String("x/y.txt")})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	defer obj.Body.Close()
	if b, _ := io.ReadAll(obj.Body); string(b) != "hello" {
		t.Errorf("object after restart = %q", b)
	}
}

func TestFlagErrors(t *testing.T) {
	ctx := context.Background()
	if err := run(ctx, []string{"-addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-dir is required") {
		t.Errorf("without -dir: %v", err)
	}
	if err := run(ctx, []string{"-dir", t.TempDir(), "-bucket", "Bad_Bucket"}, io.Discard, io.Discard); err == nil {
		t.Error("invalid bucket name accepted")
	}
}

// TestLongKeys: S3 takes keys up to 1,024 bytes; gofakes3's metadata file
// is named after the whole key, so s3-local shortens those names.
func TestLongKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s3")
	url, cancel, done := start(t, "-addr", "127.0.0.1:0", "-dir", dir, "-bucket", "alpha")
	defer stopAndWait(t, cancel, done)
	c := client(url)
	ctx := context.Background()
	keys := map[string]string{}
	for i := range 3 {
		// Same long start and end, different middles: distinct objects.
		key := "p/" + strings.Repeat("long-prefix-", 12) + "dt=2026-12-03/hr=12/" + strings.Repeat(string(rune('a'+i)), 120) + "-49680798538192666239640116900729179433876701382214418434.parquet"
		keys[key] = "body " + key[len(key)-70:len(key)-60] + string(rune('0'+i))
	}
	for key, body := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("alpha"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("PutObject of a %d-byte key: %v", len(key), err)
		}
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("alpha"), Prefix: aws.String("p/")})
	if err != nil || len(out.Contents) != len(keys) {
		t.Fatalf("list: %d objects (%v), want %d", len(out.Contents), err, len(keys))
	}
	for key, body := range keys {
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("alpha"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(b) != body {
			t.Fatalf("%d-byte key: got %q, want %q", len(key), b, body)
		}
	}
}

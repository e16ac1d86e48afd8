package s3feed

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/klauspost/compress/gzip"

	"github.com/shardflow/shardflow/ingest/lines"
	"github.com/shardflow/shardflow/ingest/state"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// s3Client is an in-memory S3 (gofakes3, the same server s3-local runs).
func s3Client(t *testing.T) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	c := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("feed-bucket")}); err != nil {
		t.Fatal(err)
	}
	return c
}

func putObject(t *testing.T, c *s3.Client, key string, body []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("feed-bucket"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// recorder registers every line; it acknowledges only the first ackUpTo
// lines of each object (by line number), as if the rest were in flight.
type recorder struct {
	ackUpTo  int64
	got      []string
	finished []string
	long     int
}

func (r *recorder) Started(*Object) {}
func (r *recorder) Lines(o *Object, ls []lines.Line) error {
	for _, l := range ls {
		r.got = append(r.got, o.Key+": "+string(l.Data))
		if l.Truncated {
			r.long++
		}
		tk := o.Progress.Register(state.Position{Offset: l.End, Lines: l.Number})
		if r.ackUpTo == 0 || l.Number <= r.ackUpTo {
			tk.Ack()
		}
	}
	return nil
}
func (r *recorder) Finished(o *Object) error { r.finished = append(r.finished, o.Key); return nil }

func run(t *testing.T, f *Feed, h Handler) {
	t.Helper()
	now := time.Now()
	for range 100000 {
		if _, err := f.Poll(context.Background(), now, h); err != nil {
			t.Fatal(err)
		}
		if f.Done() {
			return
		}
	}
	t.Fatal("the feed never finished")
}

func numbered(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "line %05d\n", i+1)
	}
	return sb.String()
}

// TestFeedResumesGzipObjectsAndSkipsDoneOnes: a gzip object read part-way
// (only its first 3,500 lines acknowledged when the agent stopped) is read
// on from line 3,501 after a restart; a done object is not read again; an
// overwritten object (new ETag) is read again in full.
func TestFeedResumesGzipObjectsAndSkipsDoneOnes(t *testing.T) {
	c := s3Client(t)
	putObject(t, c, "in/a.ndjson.gz", gzipped(numbered(10000)))
	putObject(t, c, "in/b.txt", []byte("b1\nb2\nb3"))
	putObject(t, c, "other/ignored.txt", []byte("x\n"))
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := state.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Flow: "f", Client: c, Bucket: "feed-bucket", Prefix: "in/", Once: true, LinesPerPoll: 700, Logger: quiet}
	f, err := New(o, st)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ackUpTo: 3500}
	run(t, f, r)
	if len(r.got) != 10003 || strings.Join(r.finished, ",") != "in/a.ndjson.gz,in/b.txt" {
		t.Fatalf("first run: %d lines, finished %v", len(r.got), r.finished)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}

	st2, _ := state.Open(path)
	f2, _ := New(o, st2)
	r2 := &recorder{}
	run(t, f2, r2)
	if len(r2.got) != 6500 || r2.got[0] != "in/a.ndjson.gz: line 03501" || r2.got[6499] != "in/a.ndjson.gz: line 10000" {
		t.Fatalf("second run: %d lines, first %q", len(r2.got), r2.got[:min(2, len(r2.got))])
	}
	for _, p := range st2.Sources("f") {
		if !p.Done() {
			t.Errorf("%s not done after the second run", p.Identity().Path)
		}
	}
	if err := st2.Flush(); err != nil {
		t.Fatal(err)
	}

	putObject(t, c, "in/b.txt", []byte("new b\n"))
	st3, _ := state.Open(path)
	f3, _ := New(o, st3)
	r3 := &recorder{}
	run(t, f3, r3)
	if strings.Join(r3.got, "|") != "in/b.txt: new b" {
		t.Fatalf("third run read %q, want only the overwritten object", r3.got)
	}
}

func TestFeedLongLinesAndCRLF(t *testing.T) {
	c := s3Client(t)
	long := strings.Repeat("z", 3000)
	// Longer than the read buffer (64 KiB) but within max_line_bytes: whole.
	big := strings.Repeat("y", 200_000)
	putObject(t, c, "in/big.txt", []byte(big+"\r\n"+big))
	putObject(t, c, "in/x.csv", []byte("a\r\n"+long+"\nb\r\n"+long))
	st0, _ := state.Open(filepath.Join(t.TempDir(), "s.json"))
	f0, err := New(Options{Flow: "f", Client: c, Bucket: "feed-bucket", Prefix: "in/big", Once: true, Logger: quiet}, st0)
	if err != nil {
		t.Fatal(err)
	}
	r0 := &recorder{}
	run(t, f0, r0)
	if len(r0.got) != 2 || r0.got[0] != "in/big.txt: "+big || r0.got[1] != "in/big.txt: "+big || r0.long != 0 {
		t.Fatalf("200 KB lines: %d lines (%d cut), lengths %d", len(r0.got), r0.long, len(r0.got[0]))
	}

	st, _ := state.Open(filepath.Join(t.TempDir(), "s.json"))
	f, err := New(Options{Flow: "f", Client: c, Bucket: "feed-bucket", Prefix: "in/x", Once: true, MaxLineBytes: 1000, Logger: quiet}, st)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	run(t, f, r)
	want := []string{"in/x.csv: a", "in/x.csv: " + long[:1000], "in/x.csv: b", "in/x.csv: " + long[:1000]}
	if strings.Join(r.got, "|") != strings.Join(want, "|") || r.long != 2 {
		t.Fatalf("got %d lines (%d cut)", len(r.got), r.long)
	}
	if c := st.Sources("f")[0].Committed(); c.Offset != int64(3+3001+3+3000) || c.Lines != 4 {
		t.Fatalf("committed %+v", c)
	}
}

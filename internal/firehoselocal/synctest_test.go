package firehoselocal_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// handlerTransport serves client requests with an in-process handler. A
// synctest bubble cannot wait on real sockets, so inside one the SDK
// clients reach gofakes3 and the emulator through this instead of TCP.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	// A server sees Content-Length as a header; the client keeps it aside.
	if r.ContentLength > 0 {
		r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestIntervalTriggerWithSyntheticTime runs the real clock (no injected
// Now) inside a synctest bubble: the 60 s interval, the 100 ms creation
// delay and the ticker all run on synthetic time, so the test takes
// milliseconds yet checks the exact boundary.
func TestIntervalTriggerWithSyntheticTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		creds := credentials.NewStaticCredentialsProvider("local", "local", "")
		s3c := s3.New(s3.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String("http://s3.local"),
			UsePathStyle: true,
			Credentials:  creds,
			HTTPClient:   &http.Client{Transport: handlerTransport{gofakes3.New(s3mem.New()).Server()}},
		})
		ctx := context.Background()
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
			t.Fatalf("create bucket: %v", err)
		}
		srv, err := firehoselocal.New(firehoselocal.Config{S3: s3c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		// The bubble ends only when the stream goroutines have exited.
		defer func() {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			_ = srv.Close(ctx)
		}()
		fh := firehose.New(firehose.Options{
			Region:       "us-east-1",
			BaseEndpoint: aws.String("http://firehose.local"),
			Credentials:  creds,
			HTTPClient:   &http.Client{Transport: handlerTransport{srv}},
		})
		if _, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName:                 aws.String("minute"),
			ExtendedS3DestinationConfiguration: streamConfig("m/", 128, 60, types.CompressionFormatUncompressed),
		}); err != nil {
			t.Fatalf("CreateDeliveryStream: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the default creation delay
		synctest.Wait()
		if st := srv.Stats()["minute"].Status; st != "ACTIVE" {
			t.Fatalf("status after the creation delay = %s", st)
		}

		start := time.Now()
		put := func(data string) {
			if _, err := fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("minute"), Record: &types.Record{Data: []byte(data)}}); err != nil {
				t.Fatalf("PutRecord: %v", err)
			}
		}
		put("a")
		time.Sleep(30 * time.Second)
		put("b")
		count := func() int {
			out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			return len(out.Contents)
		}

		// The interval counts from the oldest record, not the newest.
		time.Sleep(start.Add(60*time.Second - time.Millisecond).Sub(time.Now()))
		synctest.Wait()
		if n := count(); n != 0 {
			t.Fatalf("%d objects 1ms before the interval", n)
		}
		time.Sleep(200 * time.Millisecond) // two ticks past the interval
		synctest.Wait()
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket)})
		if err != nil || len(out.Contents) != 1 {
			t.Fatalf("after the interval: %v, %d objects; want 1 (stats %+v)", err, len(out.Contents), srv.Stats()["minute"])
		}
		// synctest's clock starts at 2000-01-01 00:00:00 UTC.
		key := aws.ToString(out.Contents[0].Key)
		if !regexp.MustCompile(`^m/2000/01/01/00/minute-1-2000-01-01-00-00-00-[0-9a-f-]{36}$`).MatchString(key) {
			t.Errorf("key = %q", key)
		}
		obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(body) != "ab" {
			t.Errorf("object = %q, want \"ab\"", body)
		}
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st := srv.Stats()["minute"]; st.BytesDelivered != 2 || st.BufferedBytes != 0 {
			t.Errorf("stats after Close = %+v", st)
		}
	})
}

package firehoselocal_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/firehoselocal"
)

// keyPattern is Firehose's object key for a prefix without expressions.
func keyPattern(prefix, hourPath, name, stamp, ext string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(prefix+hourPath+name+"-1-"+stamp+"-") +
		"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}" + regexp.QuoteMeta(ext) + "$")
}

func TestDeliveryBySize(t *testing.T) {
	e := newEnv(t)
	e.createActive("bysize", streamConfig("raw/", 1, 900, types.CompressionFormatUncompressed))
	// 11 records of 100,000 bytes: the first 10 fill 1,000,000 bytes; the
	// 11th would pass 1 MiB, so it starts the next object.
	recs := records(11, 100_000)
	e.putBatch("bysize", recs[:6])
	e.putBatch("bysize", recs[6:])

	keys := e.waitKeys(1)
	if !keyPattern("raw/", "2025/01/02/03/", "bysize", "2025-01-02-03-04-05", "").MatchString(keys[0]) {
		t.Errorf("key %q does not match the Firehose format", keys[0])
	}
	if got := e.object(keys[0]); !bytes.Equal(got, concat(recs[:10])) {
		t.Errorf("object holds %d bytes, want records 0-9 concatenated (%d bytes)", len(got), len(concat(recs[:10])))
	}
	e.waitStats("bysize", "1 object delivered and 100000 bytes buffered", func(st firehoselocal.StreamStats) bool {
		return st.ObjectsDelivered == 1 && st.BufferedBytes == 100_000
	})

	// The rest goes out when its interval passes.
	e.clock.Advance(900 * time.Second)
	first := keys[0]
	keys = e.waitKeys(2)
	second := keys[0]
	if second == first { // same timestamp: the random suffix orders them
		second = keys[1]
	}
	if got := e.object(second); !bytes.Equal(got, recs[10]) {
		t.Errorf("second object holds %d bytes, want record 10", len(got))
	}
	e.waitStats("bysize", "everything delivered", func(st firehoselocal.StreamStats) bool {
		return st.BytesDelivered == st.BytesAccepted && st.BufferedBytes == 0
	})
}

func TestDeliveryByInterval(t *testing.T) {
	e := newEnv(t)
	e.createActive("byinterval", streamConfig("logs/", 128, 1, types.CompressionFormatUncompressed))
	ctx := context.Background()
	// The oldest record arrives at 03:59:59.5; the others after the hour:
	// the key takes the oldest record's hour and second.
	e.clock.Set(time.Date(2025, 1, 2, 3, 59, 59, 500e6, time.UTC))
	if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("byinterval"), Record: &types.Record{Data: []byte("first\n")}}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	e.clock.Advance(600 * time.Millisecond)
	e.putBatch("byinterval", [][]byte{[]byte("second\n"), []byte("third\n")})

	// 0.6 s of record time has passed: nothing may be delivered, however
	// long we wait in real time.
	time.Sleep(100 * time.Millisecond)
	if keys := e.keys(); len(keys) != 0 {
		t.Fatalf("delivered before the interval: %v", keys)
	}
	e.clock.Advance(400 * time.Millisecond)
	keys := e.waitKeys(1)
	if !keyPattern("logs/", "2025/01/02/03/", "byinterval", "2025-01-02-03-59-59", "").MatchString(keys[0]) {
		t.Errorf("key %q does not match the Firehose format for 03:59:59", keys[0])
	}
	if got := string(e.object(keys[0])); got != "first\nsecond\nthird\n" {
		t.Errorf("object = %q, want the records concatenated in order", got)
	}
}

func TestDeliveryGzip(t *testing.T) {
	e := newEnv(t)
	// No prefix: the key starts with the hour path. Interval 0: flush on
	// the next tick.
	e.createActive("zipped", streamConfig("", 1, 0, types.CompressionFormatGzip))
	recs := records(50, 300)
	e.putBatch("zipped", recs)
	keys := e.waitKeys(1)
	if !keyPattern("", "2025/01/02/03/", "zipped", "2025-01-02-03-04-05", ".gz").MatchString(keys[0]) {
		t.Errorf("key %q does not match the Firehose format with .gz", keys[0])
	}
	body := e.object(keys[0])
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("object is not gzip: %v", err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if !bytes.Equal(got, concat(recs)) {
		t.Errorf("gunzipped object differs from the records (%d vs %d bytes)", len(got), len(concat(recs)))
	}
	if len(body) >= len(got) {
		t.Errorf("gzip object of %d bytes for %d bytes of repetitive data: not compressed", len(body), len(got))
	}
}

func TestDeliveryRetriesWithoutLoss(t *testing.T) {
	e := newEnv(t)
	dest := streamConfig("", 1, 0, types.CompressionFormatUncompressed)
	dest.BucketARN = aws.String("arn:aws:s3:::late-bucket") // does not exist yet
	e.createActive("retry", dest)
	recs := records(20, 1000)
	e.putBatch("retry", recs)

	deadline := time.Now().Add(3 * time.Second)
	for e.stats("retry").DeliveryFailures < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed deliveries recorded: %+v", e.stats("retry"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := e.stats("retry")
	if st.BufferedBytes != 20_000 || st.ObjectsDelivered != 0 || !strings.Contains(st.LastDeliveryError, "late-bucket") {
		t.Fatalf("while S3 fails: %+v, want the 20000 bytes kept and the error recorded", st)
	}

	mustCreateBucket(t, e.s3, "late-bucket")
	deadline = time.Now().Add(5 * time.Second)
	for e.stats("retry").ObjectsDelivered == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered after the bucket appeared: %+v", e.stats("retry"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("late-bucket")})
	if err != nil || len(out.Contents) != 1 {
		t.Fatalf("late-bucket listing: %v, %+v; want exactly one object", err, out)
	}
	got := e.objectIn("late-bucket", aws.ToString(out.Contents[0].Key))
	if !bytes.Equal(got, concat(recs)) {
		t.Errorf("retried object differs from the records")
	}
}

func TestCloseFlushes(t *testing.T) {
	e := newEnv(t)
	e.createActive("a", streamConfig("a/", 128, 900, types.CompressionFormatUncompressed))
	e.createActive("b", streamConfig("b/", 128, 900, types.CompressionFormatGzip))
	ra, rb := records(7, 50), records(3, 70)
	e.putBatch("a", ra)
	e.putBatch("b", rb)
	if keys := e.keys(); len(keys) != 0 {
		t.Fatalf("delivered before Close: %v", keys)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	keys := e.keys() // Close returned: everything is in S3 already
	if len(keys) != 2 || !strings.HasPrefix(keys[0], "a/") || !strings.HasPrefix(keys[1], "b/") {
		t.Fatalf("after Close: %v, want one object per stream", keys)
	}
	if got := e.object(keys[0]); !bytes.Equal(got, concat(ra)) {
		t.Errorf("stream a flushed %q", got)
	}
	_, err := newFirehoseClient(e.url, noRetry).PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("a"), Record: &types.Record{Data: []byte("late")}})
	var unavailable *types.ServiceUnavailableException
	if !errors.As(err, &unavailable) {
		t.Errorf("PutRecord after Close: %v, want ServiceUnavailableException", err)
	}
}

func TestCloseReportsUndelivered(t *testing.T) {
	e := newEnv(t)
	dest := streamConfig("", 128, 900, types.CompressionFormatUncompressed)
	dest.BucketARN = aws.String("arn:aws:s3:::missing")
	e.createActive("stuck", dest)
	e.putBatch("stuck", records(4, 25))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.srv.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "100 bytes not delivered") {
		t.Errorf("Close = %v, want an error counting 100 undelivered bytes", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("Close took %v past its 300ms deadline", waited)
	}
}

// TestNoAcceptedRecordLostAtClose races producers against Close: every
// record answered with a RecordId must be in S3 afterwards.
func TestNoAcceptedRecordLostAtClose(t *testing.T) {
	e := newEnv(t)
	e.createActive("race", streamConfig("", 1, 900, types.CompressionFormatUncompressed))
	fh := newFirehoseClient(e.url, noRetry)
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				recs := records(10, 2000+p)
				out, err := fh.PutRecordBatch(context.Background(), batchInput("race", recs))
				if err != nil {
					return // the server is closing
				}
				mu.Lock()
				for j, r := range out.RequestResponses {
					if r.RecordId != nil {
						accepted += len(recs[j])
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	delivered := 0
	for _, k := range e.keys() {
		delivered += len(e.object(k))
	}
	if accepted == 0 || delivered != accepted {
		t.Errorf("accepted %d bytes, delivered %d", accepted, delivered)
	}
}

package s3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/flow"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// quiet drops the retry warnings the fault tests cause on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func faultOptions(f *fakeS3, mut func(*s3out.Options)) s3out.Options {
	o := s3out.Options{
		Client: f.client, Bucket: fakeBucket, Prefix: "out/", Name: "t", Schema: testSchema,
		RetryTimeout: 300 * time.Millisecond, RetryBase: 2 * time.Millisecond, RetryMaxDelay: 20 * time.Millisecond,
		PartSize: s3out.MinPartSize, Logger: quiet,
	}
	if mut != nil {
		mut(&o)
	}
	return o
}

func writeRows(t *testing.T, o *s3out.Output, rows []testRow, ack flow.Ack) {
	t.Helper()
	b := batch(t, memory.DefaultAllocator, rows)
	defer b.Record.Release()
	if err := o.Write(context.Background(), b, ack); err != nil {
		t.Fatal(err)
	}
}

// bigRows are about 7 MiB of incompressible text: a multipart file.
func bigRows(r *rand.Rand, prefix string, at time.Time) []testRow {
	rows := genRows(r, prefix, 7000, at, time.Millisecond, 1000)
	for i := range rows {
		rows[i].arrival = at
	}
	return rows
}

// TestTransientFailuresRetried: S3 throttles or fails each kind of call a
// few times; the output retries them and every write acks nil.
func TestTransientFailuresRetried(t *testing.T) {
	f := newFakeS3(t)
	var mu sync.Mutex
	left := map[string]int{"PutObject": 2, "CreateMultipartUpload": 1, "UploadPart": 2, "CompleteMultipartUpload": 1}
	f.setRule(func(op, key string) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		if left[op] > 0 {
			left[op]--
			if op == "UploadPart" {
				return 503, "SlowDown"
			}
			return 500, "InternalError"
		}
		return 0, ""
	})
	var onRetry atomic.Int64 // OnRetry feeds the metrics hooks (S3Retry)
	o, err := s3out.New(faultOptions(f, func(o *s3out.Options) {
		o.Compression = "none"
		o.RetryTimeout = 10 * time.Second
		o.OnRetry = func(string, int, error) { onRetry.Add(1) }
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(6, 6))
	small := genRows(r, "small", 20, time.Now(), time.Second, 0)
	at := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	for i := range small {
		small[i].arrival = at
	}
	big := bigRows(r, "big", at.Add(time.Hour))
	acks := newAckLog(2)
	writeRows(t, o, small, acks.ack(0))
	writeRows(t, o, big, acks.ack(1))
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks.inOrder(t)
	for i := range 2 {
		if err := acks.err(i); err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if st := o.Stats(); st.Retries != 6 || st.Files != 2 || st.Parts < 2 {
		t.Errorf("stats %+v: want 6 retries, 2 files, a multipart upload", st)
	}
	if n := onRetry.Load(); n != 6 {
		t.Errorf("OnRetry called %d times, want once per retry (6)", n)
	}
	objects := listObjects(t, f.client, fakeBucket, "out/")
	checkFiles(t, objects, "out/", "t", append(small, big...), func(r testRow) string { return partitionOf(r.arrival) })
	for op, n := range left {
		if n != 0 {
			t.Errorf("%s: %d injected failures never happened", op, n)
		}
	}
}

// TestPermanentFailure: every call for one partition fails. Its writes ack
// with the error after RetryTimeout; writes to other partitions, before and
// after it in Write order, ack nil and their rows land; once S3 recovers, a
// new file of the failed partition lands too.
func TestPermanentFailure(t *testing.T) {
	f := newFakeS3(t)
	var broken sync.Map
	f.setRule(func(op, key string) (int, string) {
		if _, ok := broken.Load("on"); ok && strings.Contains(key, "/hr=02/") {
			return 500, "InternalError"
		}
		return 0, ""
	})
	broken.Store("on", true)
	var mu sync.Mutex
	var results []s3out.UploadResult
	o, err := s3out.New(faultOptions(f, func(o *s3out.Options) {
		o.RollInterval = 100 * time.Millisecond
		o.OnUpload = func(r s3out.UploadResult) { mu.Lock(); results = append(results, r); mu.Unlock() }
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	acks := newAckLog(7)
	var landed []testRow
	for k := range 6 {
		hr := k%3 + 1
		rows := genRows(r, fmt.Sprintf("p%d", k), 100, day, time.Second, 0)
		for i := range rows {
			rows[i].arrival = day.Add(time.Duration(hr) * time.Hour)
		}
		if hr != 2 {
			landed = append(landed, rows...)
		}
		writeRows(t, o, rows, acks.ack(k))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		acks.mu.Lock()
		n := len(acks.order)
		acks.mu.Unlock()
		if n == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 6 acks", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for k := range 6 {
		err := acks.err(k)
		if k%3+1 == 2 {
			if err == nil || !strings.Contains(err.Error(), "InternalError") || !strings.Contains(err.Error(), "still failing") {
				t.Errorf("write %d (hr=02): ack %v, want the S3 error after retries", k, err)
			}
		} else if err != nil {
			t.Errorf("write %d: %v", k, err)
		}
	}
	if err := o.Healthy(); err == nil {
		t.Error("Healthy() is nil after a file was given up on")
	}

	broken.Delete("on")
	rows := genRows(r, "after", 50, day, time.Second, 0)
	for i := range rows {
		rows[i].arrival = day.Add(2 * time.Hour)
	}
	landed = append(landed, rows...)
	writeRows(t, o, rows, acks.ack(6))
	if err := o.Close(context.Background()); err == nil {
		t.Error("Close returned nil although a file was given up on")
	}
	acks.inOrder(t)
	if err := acks.err(6); err != nil {
		t.Errorf("write after recovery: %v", err)
	}
	objects := listObjects(t, f.client, fakeBucket, "out/")
	checkFiles(t, objects, "out/", "t", landed, func(r testRow) string { return partitionOf(r.arrival) })
	if st := o.Stats(); st.FailedFiles != 1 || st.Files != 3 {
		t.Errorf("stats %+v: want 1 failed and 3 uploaded files", st)
	}
	var failed int
	for _, res := range results {
		if res.Err != nil {
			failed++
			if !strings.Contains(res.Key, "/hr=02/") || res.Rows != 200 {
				t.Errorf("failed file %+v", res)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failed results: %+v", failed, results)
	}
}

// TestMultipartFailureAborts: when a part or the completion keeps failing,
// the multipart upload is aborted (S3 would keep and bill its parts), no
// object appears, and the writes ack with the error.
func TestMultipartFailureAborts(t *testing.T) {
	for _, failing := range []string{"UploadPart", "CompleteMultipartUpload"} {
		t.Run(failing, func(t *testing.T) {
			f := newFakeS3(t)
			f.setRule(func(op, key string) (int, string) {
				if op == failing {
					return 500, "InternalError"
				}
				return 0, ""
			})
			o, err := s3out.New(faultOptions(f, func(o *s3out.Options) { o.Compression = "none" }))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(8, 8))
			acks := newAckLog(1)
			writeRows(t, o, bigRows(r, "big", time.Now()), acks.ack(0))
			if err := o.Close(context.Background()); err == nil {
				t.Error("Close returned nil")
			}
			acks.inOrder(t)
			if err := acks.err(0); err == nil || !strings.Contains(err.Error(), failing) {
				t.Errorf("ack %v, want the %s error", err, failing)
			}
			ops := strings.Join(f.ops(), "\n")
			if !strings.Contains(ops, "AbortMultipartUpload out/") {
				t.Errorf("no AbortMultipartUpload; calls:\n%s", ops)
			}
			ups, err := f.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(fakeBucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart uploads left", len(ups.Uploads))
			}
			if objects := listObjects(t, f.client, fakeBucket, "out/"); len(objects) != 0 {
				t.Errorf("%d objects after a failed upload", len(objects))
			}
		})
	}
}

// TestCloseContextCancelled: with S3 down and a long retry timeout, Close
// returns when its context ends, and the pending writes ack with an error.
func TestCloseContextCancelled(t *testing.T) {
	f := newFakeS3(t)
	f.setRule(func(op, key string) (int, string) { return 503, "ServiceUnavailable" })
	o, err := s3out.New(faultOptions(f, func(o *s3out.Options) { o.RetryTimeout = time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	acks := newAckLog(2)
	r := rand.New(rand.NewPCG(9, 9))
	writeRows(t, o, genRows(r, "a", 10, time.Now(), time.Second, 0), acks.ack(0))
	writeRows(t, o, genRows(r, "b", 10, time.Now(), time.Second, 0), acks.ack(1))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = o.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want the context's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
	acks.wait(t, time.Second)
	acks.inOrder(t)
	for i := range 2 {
		if acks.err(i) == nil {
			t.Errorf("write %d acked nil although nothing was uploaded", i)
		}
	}
	if err := o.Write(context.Background(), &flow.Batch{}, func(error) {}); !errors.Is(err, s3out.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

// TestWriteRefusals: a batch that is not accepted is never acked.
func TestWriteRefusals(t *testing.T) {
	f := newFakeS3(t)
	o, err := s3out.New(faultOptions(f, nil))
	if err != nil {
		t.Fatal(err)
	}
	acked := false
	good := batch(t, memory.DefaultAllocator, genRows(rand.New(rand.NewPCG(1, 1)), "x", 3, time.Now(), time.Second, 0))
	defer good.Record.Release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Write(ctx, good, func(error) { acked = true }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.Append(1)
	col := ib.NewArray()
	ib.Release()
	wrong := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "event_id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, 1)
	col.Release()
	defer wrong.Release()
	if err := o.Write(context.Background(), &flow.Batch{Record: wrong}, func(error) { acked = true }); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong schema: %v", err)
	}
	if err := o.Write(context.Background(), good, nil); err == nil {
		t.Error("nil ack accepted")
	}
	// An empty batch is acked, in order, without a file.
	acks := newAckLog(1)
	if err := o.Write(context.Background(), &flow.Batch{}, acks.ack(0)); err != nil {
		t.Fatal(err)
	}
	acks.wait(t, time.Second)
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if acked {
		t.Error("a refused write was acked")
	}
	if st := o.Stats(); st.Files != 0 || st.Calls != 0 {
		t.Errorf("stats %+v after an empty write", st)
	}
}

func TestNewRejects(t *testing.T) {
	f := newFakeS3(t)
	for _, tt := range []struct {
		mut  func(*s3out.Options)
		want string
	}{
		{func(o *s3out.Options) { o.Client = nil }, "client, bucket and schema are required"},
		{func(o *s3out.Options) { o.Bucket = "" }, "client, bucket and schema are required"},
		{func(o *s3out.Options) { o.Name = "a/b" }, `name "a/b" must not contain '/'`},
		{func(o *s3out.Options) { o.PartSize = 1 << 20 }, "below S3's minimum"},
		{func(o *s3out.Options) { o.Compression = "lz4" }, `compression "lz4"`},
		{func(o *s3out.Options) { o.PartitionBy = "hourly" }, `partition_by "hourly"`},
		{func(o *s3out.Options) { o.PartitionBy = "event:nope" }, `0 columns named "nope"`},
		{func(o *s3out.Options) { o.PartitionBy = "event:qty" }, `column "qty" is int64, want timestamp[us]`},
		{func(o *s3out.Options) {
			o.Schema = arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int32}}, nil)
		}, `type int32 is not supported by Parquet`},
	} {
		opts := faultOptions(f, tt.mut)
		if _, err := s3out.New(opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err %v, want %q", err, tt.want)
		}
	}
}

func TestPartitionPath(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 4, 50, 48, 0, time.UTC), "dt=2026-11-22/hr=04/"},
		{time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), "dt=2026-12-31/hr=23/"},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), "dt=1969-12-31/hr=23/"},
		{time.Date(2026, 11, 22, 4, 50, 0, 0, time.FixedZone("", 5*3600)), "dt=2026-11-21/hr=23/"},
	} {
		hour := tt.t.UnixMicro()
		if hour < 0 {
			hour -= int64(time.Hour/time.Microsecond) - 1
		}
		hour /= int64(time.Hour / time.Microsecond)
		if got := s3out.PartitionPath(hour); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.t, got, tt.want)
		}
	}
}

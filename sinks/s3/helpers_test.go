package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"

	"github.com/shardflow/shardflow/flow"
)

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "event_id", Type: arrow.BinaryTypes.String},
	{Name: "user_agent", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "qty", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
}, nil)

// testRow is one row of testSchema; nil pointers are nulls.
type testRow struct {
	id      string
	ua      *string
	qty     *int64
	price   *float64
	ok      *bool
	ts      *int64
	arrival time.Time
}

func ptr[T any](v T) *T { return &v }

var awkward = []string{"", " ", "a,b", `"q"`, "line\nbreak", "é€😀 日本", "\x00nul", "bad \xff utf8", `\.`, "Mozilla/5.0 (X11; Linux x86_64)"}

// genRows makes n rows with ids prefix-0..n-1, random values and nulls.
// Event times start at ts0 and advance step per row.
func genRows(r *rand.Rand, prefix string, n int, ts0 time.Time, step time.Duration, textLen int) []testRow {
	floats := []float64{0, math.Copysign(0, -1), 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 19.99}
	rows := make([]testRow, n)
	for i := range rows {
		rw := &rows[i]
		rw.id = fmt.Sprintf("%s-%06d", prefix, i)
		if r.IntN(6) > 0 {
			s := awkward[r.IntN(len(awkward))]
			if textLen > 0 {
				s = randText(r, textLen)
			}
			rw.ua = ptr(s)
		}
		if r.IntN(6) > 0 {
			rw.qty = ptr([]int64{r.Int64() - r.Int64(), math.MinInt64, math.MaxInt64, 0, int64(i)}[r.IntN(5)])
		}
		if r.IntN(6) > 0 {
			f := math.Float64frombits(r.Uint64())
			if r.IntN(3) == 0 {
				f = floats[r.IntN(len(floats))]
			}
			rw.price = ptr(f)
		}
		if r.IntN(6) > 0 {
			rw.ok = ptr(r.IntN(2) == 0)
		}
		if r.IntN(8) > 0 {
			rw.ts = ptr(ts0.Add(time.Duration(i) * step).UnixMicro())
		}
	}
	return rows
}

func randText(r *rand.Rand, n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// batch builds a flow.Batch of rows with mem; Origins carry each row's
// arrival time.
func batch(t testing.TB, mem memory.Allocator, rows []testRow) *flow.Batch {
	t.Helper()
	rb := array.NewRecordBuilder(mem, testSchema)
	defer rb.Release()
	origins := make([]flow.RowOrigin, len(rows))
	for i, r := range rows {
		rb.Field(0).(*array.StringBuilder).Append(r.id)
		appendOr(rb.Field(1), r.ua, rb.Field(1).(*array.StringBuilder).Append)
		appendOr(rb.Field(2), r.qty, rb.Field(2).(*array.Int64Builder).Append)
		appendOr(rb.Field(3), r.price, rb.Field(3).(*array.Float64Builder).Append)
		appendOr(rb.Field(4), r.ok, rb.Field(4).(*array.BooleanBuilder).Append)
		appendOr(rb.Field(5), r.ts, func(v int64) { rb.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(v)) })
		origins[i] = flow.RowOrigin{SequenceNumber: r.id, ArrivalTime: r.arrival}
	}
	return &flow.Batch{Record: rb.NewRecordBatch(), Shard: "shardId-000000000000", Origins: origins}
}

func appendOr[T any](b array.Builder, v *T, app func(T)) {
	if v == nil {
		b.AppendNull()
		return
	}
	app(*v)
}

// cells is what readParquet gives for r: string, int64, float64 bits (or
// "NaN": arrow-go's dictionary encoder keeps one NaN per column chunk),
// bool, timestamp micros, nil for null.
func (r testRow) cells() []any {
	c := make([]any, 6)
	c[0] = r.id
	if r.ua != nil {
		c[1] = *r.ua
	}
	if r.qty != nil {
		c[2] = *r.qty
	}
	if r.price != nil {
		c[3] = floatCell(*r.price)
	}
	if r.ok != nil {
		c[4] = *r.ok
	}
	if r.ts != nil {
		c[5] = *r.ts
	}
	return c
}

func floatCell(f float64) any {
	if math.IsNaN(f) {
		return "NaN"
	}
	return math.Float64bits(f)
}

// readParquet reads a file with github.com/parquet-go/parquet-go, which
// shares no code with arrow-go. It checks the schema the file declares
// (physical and logical types, repetition) against testSchema and returns
// the rows as cells.
func readParquet(t testing.TB, data []byte) [][]any {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet-go: open: %v", err)
	}
	want := []string{
		"event_id BYTE_ARRAY STRING REQUIRED",
		"user_agent BYTE_ARRAY STRING OPTIONAL",
		"qty INT64 INT(64,true) OPTIONAL",
		"price DOUBLE  OPTIONAL",
		"ok BOOLEAN  OPTIONAL",
		"ts INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS) OPTIONAL",
	}
	md := f.Metadata()
	if len(md.Schema) != len(want)+1 {
		t.Fatalf("parquet-go: %d schema elements, want %d", len(md.Schema), len(want)+1)
	}
	for i, el := range md.Schema[1:] {
		got := fmt.Sprintf("%s %s %s %s", el.Name, el.Type.V, el.LogicalType.String(), el.RepetitionType.V)
		if got != want[i] {
			t.Fatalf("parquet-go: column %d is %q, want %q", i, got, want[i])
		}
	}
	var out [][]any
	buf := make([]parquet.Row, 128)
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				c := make([]any, len(want))
				if len(row) != len(want) {
					t.Fatalf("parquet-go: row of %d values", len(row))
				}
				for _, v := range row {
					if v.IsNull() {
						continue
					}
					switch k := v.Column(); k {
					case 0, 1:
						c[k] = string(v.ByteArray())
					case 2, 5:
						c[k] = v.Int64()
					case 3:
						c[k] = floatCell(v.Double())
					case 4:
						c[k] = v.Boolean()
					}
				}
				out = append(out, c)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("parquet-go: read: %v", err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if int64(len(out)) != f.NumRows() {
		t.Fatalf("parquet-go: %d rows read, footer says %d", len(out), f.NumRows())
	}
	return out
}

// ackLog records acks: which write, in which order, with what error, and
// that no two ran at once.
type ackLog struct {
	mu      sync.Mutex
	order   []int
	errs    map[int]error
	running bool
	overlap bool
	done    chan struct{}
	want    int
}

func newAckLog(want int) *ackLog {
	return &ackLog{errs: map[int]error{}, done: make(chan struct{}), want: want}
}

func (l *ackLog) ack(i int) flow.Ack {
	return func(err error) {
		l.mu.Lock()
		if l.running {
			l.overlap = true
		}
		l.running = true
		l.order = append(l.order, i)
		l.errs[i] = err
		n := len(l.order)
		l.running = false
		l.mu.Unlock()
		if n == l.want {
			close(l.done)
		}
	}
}

func (l *ackLog) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(d):
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("%d of %d acks after %s", len(l.order), l.want, d)
	}
}

// inOrder checks that every write was acked once, in Write order.
func (l *ackLog) inOrder(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overlap {
		t.Error("two acks ran at the same time")
	}
	if len(l.order) != l.want {
		t.Fatalf("%d acks, want %d", len(l.order), l.want)
	}
	for i, w := range l.order {
		if w != i {
			t.Fatalf("ack %d was for write %d: acks out of order %v", i, w, l.order)
		}
	}
}

func (l *ackLog) err(i int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs[i]
}

// listObjects returns the keys under prefix with their contents.
func listObjects(t testing.TB, c *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", aws.ToString(o.Key), err)
			}
			data, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			out[aws.ToString(o.Key)] = data
		}
	}
	return out
}

// fakeS3 is gofakes3 in process behind a handler that can fail requests
// with S3's error XML: for faults s3-local cannot produce.
type fakeS3 struct {
	t      testing.TB
	srv    *httptest.Server
	client *s3.Client
	next   http.Handler

	mu   sync.Mutex
	rule func(op, key string) (status int, code string)
	log  []string // "op key" of every request, failed ones prefixed "FAIL "
}

const fakeBucket = "faults"

func newFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	f := &fakeS3{t: t, next: gofakes3.New(s3mem.New()).Server()}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	f.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(f.srv.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1 // the output's own retries are under test
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	if _, err := f.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(fakeBucket)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// setRule installs the fault rule: a non-zero status fails the request.
func (f *fakeS3) setRule(rule func(op, key string) (int, string)) {
	f.mu.Lock()
	f.rule = rule
	f.mu.Unlock()
}

func (f *fakeS3) ops() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func s3Op(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPut && q.Has("uploadId"):
		return "UploadPart"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodGet && q.Has("uploads"):
		return "ListMultipartUploads"
	}
	return r.Method
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := s3Op(r)
	key := strings.TrimPrefix(r.URL.Path, "/"+fakeBucket+"/")
	f.mu.Lock()
	status, code := 0, ""
	if f.rule != nil {
		status, code = f.rule(op, key)
	}
	entry := op + " " + key
	if status != 0 {
		entry = "FAIL " + entry
	}
	f.log = append(f.log, entry)
	f.mu.Unlock()
	if status == 0 {
		f.next.ServeHTTP(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>injected by the test</Message><Resource>%s</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>`,
		code, r.URL.Path)
}

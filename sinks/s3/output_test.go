package s3_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/internal/testenv"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

// poisonAllocator overwrites memory when it is freed, so an output that kept
// a pointer into a released batch would upload garbage.
type poisonAllocator struct{ memory.Allocator }

func (a poisonAllocator) Free(b []byte) {
	for i := range b {
		b[i] = 0xa5
	}
	a.Allocator.Free(b)
}

type stack struct {
	client *s3.Client
	bucket string
	prefix string
}

func localStack(t *testing.T) stack {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local stack's s3-local (make up); skipped with -short")
	}
	e := testenv.Load(t)
	return stack{client: e.S3(t), bucket: e.S3Bucket, prefix: "sinks-s3-test/" + testenv.UniqueName(t, "") + "/"}
}

var keyPattern = regexp.MustCompile(`^(.*)dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/([^/]+)-(\d{8}T\d{6}Z)-([0-9a-f-]{36})\.parquet$`)

// partitionOf is the dt=/hr= path of a time.
func partitionOf(t time.Time) string { return t.UTC().Format("dt=2006-01-02/hr=15/") }

// checkFiles reads every object under prefix with the independent reader
// and checks that each row sits under the partition want gives for it, that
// every written row is there exactly once with identical values, and that
// keys have the documented form.
func checkFiles(t *testing.T, objects map[string][]byte, prefix, name string, written []testRow, want func(testRow) string) {
	t.Helper()
	byID := map[string]testRow{}
	for _, r := range written {
		byID[r.id] = r
	}
	seen := map[string]string{}
	for key, data := range objects {
		m := keyPattern.FindStringSubmatch(key)
		if m == nil || m[1] != prefix || m[4] != name {
			t.Fatalf("key %q does not have the form %sdt=YYYY-MM-DD/hr=HH/%s-yyyyMMddTHHmmssZ-uuid.parquet", key, prefix, name)
		}
		part := fmt.Sprintf("dt=%s/hr=%s/", m[2], m[3])
		rows := readParquet(t, data)
		if len(rows) == 0 {
			t.Errorf("%s: empty file", key)
		}
		for _, cells := range rows {
			id := cells[0].(string)
			w, ok := byID[id]
			if !ok {
				t.Fatalf("%s: row %q was never written", key, id)
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("row %q in %s and in %s", id, prev, key)
			}
			seen[id] = key
			if wp := want(w); part != wp {
				t.Fatalf("row %q under %s, want %s", id, part, wp)
			}
			if exp := w.cells(); fmt.Sprintf("%#v", exp) != fmt.Sprintf("%#v", cells) {
				t.Fatalf("row %q in %s:\n got  %#v\n want %#v", id, key, cells, exp)
			}
		}
	}
	if len(seen) != len(written) {
		t.Fatalf("%d of %d rows found in %d files", len(seen), len(written), len(objects))
	}
}

// TestArrivalPartitions writes batches arriving over several hours across a
// day boundary, with files rolled by size, into s3-local; every row must be
// read back by parquet-go under its batch's arrival hour, once, with
// identical values; acks arrive in order; no Arrow memory is kept.
func TestArrivalPartitions(t *testing.T) {
	st := localStack(t)
	batchMem := memory.NewCheckedAllocator(poisonAllocator{memory.NewGoAllocator()})
	outMem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	var mu sync.Mutex
	var results []s3out.UploadResult
	o, err := s3out.New(s3out.Options{
		Client: st.client, Bucket: st.bucket, Prefix: strings.TrimSuffix(st.prefix, "/"), Name: "clicks",
		Schema: testSchema, Compression: "snappy", RowGroupRows: 100, RollBytes: 8 << 10,
		MaxInFlightUploads: 3, Allocator: outMem,
		OnUpload: func(r s3out.UploadResult) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	start := time.Date(2026, 11, 22, 21, 40, 0, 0, time.UTC)
	const batches = 14
	acks := newAckLog(batches)
	var written []testRow
	for k := range batches {
		rows := genRows(r, fmt.Sprintf("b%02d", k), 150+r.IntN(300), start, time.Second, 0)
		arrival := start.Add(time.Duration(k) * 25 * time.Minute)
		for i := range rows {
			// Later rows arrive later, but the batch goes by its first.
			rows[i].arrival = arrival.Add(time.Duration(i) * time.Second)
		}
		b := batch(t, batchMem, rows)
		if err := o.Write(context.Background(), b, acks.ack(k)); err != nil {
			t.Fatal(err)
		}
		b.Record.Release()
		written = append(written, rows...)
	}
	batchMem.AssertSize(t, 0) // the output kept nothing
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks.wait(t, time.Second) // Close returns after the acks
	acks.inOrder(t)
	for k := range batches {
		if err := acks.err(k); err != nil {
			t.Errorf("write %d acked with %v", k, err)
		}
	}
	outMem.AssertSize(t, 0)

	objects := listObjects(t, st.client, st.bucket, st.prefix)
	checkFiles(t, objects, st.prefix, "clicks", written, func(r testRow) string {
		var k int
		fmt.Sscanf(r.id, "b%02d", &k)
		return partitionOf(start.Add(time.Duration(k) * 25 * time.Minute))
	})
	parts := map[string]bool{}
	for key := range objects {
		parts[keyPattern.FindStringSubmatch(key)[2]+"/"+keyPattern.FindStringSubmatch(key)[3]] = true
	}
	if len(parts) < 6 || len(objects) <= len(parts) {
		t.Errorf("%d files in %d partitions: want several partitions and size rolls within them", len(objects), len(parts))
	}
	st2 := o.Stats()
	if st2.Files != int64(len(objects)) || st2.FailedFiles != 0 || st2.Rows != int64(len(written)) || len(results) != len(objects) {
		t.Errorf("stats %+v, %d results, %d objects, %d rows", st2, len(results), len(objects), len(written))
	}
	t.Logf("%d rows in %d files over %d partitions; %+v", len(written), len(objects), len(parts), st2)
}

// TestEventTimePartitions partitions by an event-time column: a batch whose
// rows span hours is split into runs, each to its hour's file; rows without
// an event time go by their arrival time.
func TestEventTimePartitions(t *testing.T) {
	st := localStack(t)
	o, err := s3out.New(s3out.Options{
		Client: st.client, Bucket: st.bucket, Prefix: st.prefix, Schema: testSchema,
		Compression: "zstd", PartitionBy: "event:ts", MaxOpenFiles: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(2, 2))
	arrival := time.Date(2026, 11, 22, 4, 50, 0, 0, time.UTC)
	const batches = 6
	acks := newAckLog(batches)
	var written []testRow
	for k := range batches {
		// Event times go back and forth across five hours inside a batch.
		ts0 := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC).Add(time.Duration(k) * 17 * time.Minute)
		rows := genRows(r, fmt.Sprintf("e%02d", k), 400, ts0, 41*time.Second, 0)
		for i := range rows {
			if i%97 == 50 && rows[i].ts != nil {
				*rows[i].ts -= int64(3 * time.Hour / time.Microsecond) // late rows
			}
			rows[i].arrival = arrival.Add(time.Duration(k) * time.Minute)
		}
		b := batch(t, memory.DefaultAllocator, rows)
		if err := o.Write(context.Background(), b, acks.ack(k)); err != nil {
			t.Fatal(err)
		}
		b.Record.Release()
		written = append(written, rows...)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks.inOrder(t)
	objects := listObjects(t, st.client, st.bucket, st.prefix)
	// The name defaults to the prefix's last segment.
	name := strings.Split(strings.TrimSuffix(st.prefix, "/"), "/")[1]
	checkFiles(t, objects, st.prefix, name, written, func(r testRow) string {
		if r.ts == nil {
			return partitionOf(r.arrival)
		}
		return partitionOf(time.UnixMicro(*r.ts))
	})
	t.Logf("%d rows in %d files; %+v", len(written), len(objects), o.Stats())
}

// TestMultipart: a file over one part (5 MiB) goes up as a multipart upload
// of several parts, and reads back whole.
func TestMultipart(t *testing.T) {
	st := localStack(t)
	var mu sync.Mutex
	var results []s3out.UploadResult
	o, err := s3out.New(s3out.Options{
		Client: st.client, Bucket: st.bucket, Prefix: st.prefix, Name: "big", Schema: testSchema,
		Compression: "none", PartSize: s3out.MinPartSize, RowGroupBytes: 2 << 20, MaxInFlightUploads: 2,
		OnUpload: func(r s3out.UploadResult) { mu.Lock(); results = append(results, r); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	now := time.Now()
	const batches = 12
	acks := newAckLog(batches)
	var written []testRow
	for k := range batches {
		rows := genRows(r, fmt.Sprintf("m%02d", k), 1000, now, time.Millisecond, 1000) // ~1 KB of text a row
		for i := range rows {
			rows[i].arrival = now
		}
		b := batch(t, memory.DefaultAllocator, rows)
		if err := o.Write(context.Background(), b, acks.ack(k)); err != nil {
			t.Fatal(err)
		}
		b.Record.Release()
		written = append(written, rows...)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks.inOrder(t)
	if len(results) != 1 {
		t.Fatalf("%d files, want 1: %+v", len(results), results)
	}
	res := results[0]
	wantParts := int((res.Bytes + s3out.MinPartSize - 1) / s3out.MinPartSize)
	if res.Bytes <= s3out.MinPartSize || res.Parts < 2 || res.Parts != wantParts {
		t.Errorf("%d bytes in %d parts, want > 5 MiB in %d parts", res.Bytes, res.Parts, wantParts)
	}
	if !strings.HasSuffix(res.ETag, fmt.Sprintf(`-%d"`, res.Parts)) {
		t.Errorf("ETag %s is not the multipart form \"…-%d\"", res.ETag, res.Parts)
	}
	objects := listObjects(t, st.client, st.bucket, st.prefix)
	if len(objects) != 1 || int64(len(objects[res.Key])) != res.Bytes {
		t.Fatalf("objects %d, %s is %d bytes, uploaded %d", len(objects), res.Key, len(objects[res.Key]), res.Bytes)
	}
	checkFiles(t, objects, st.prefix, "big", written, func(testRow) string { return partitionOf(now) })
	t.Logf("%s: %d bytes, %d parts, ETag %s", res.Key, res.Bytes, res.Parts, res.ETag)
}

// TestRollInterval: a file is uploaded, and its writes acked, RollInterval
// after it was opened, without Close.
func TestRollInterval(t *testing.T) {
	st := localStack(t)
	o, err := s3out.New(s3out.Options{
		Client: st.client, Bucket: st.bucket, Prefix: st.prefix, Schema: testSchema, RollInterval: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	r := rand.New(rand.NewPCG(4, 4))
	rows := genRows(r, "i", 10, time.Now(), time.Second, 0)
	acks := newAckLog(1)
	b := batch(t, memory.DefaultAllocator, rows)
	start := time.Now()
	if err := o.Write(context.Background(), b, acks.ack(0)); err != nil {
		t.Fatal(err)
	}
	b.Record.Release()
	acks.wait(t, 10*time.Second)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("acked after %s, before the roll interval", d)
	}
	if err := acks.err(0); err != nil {
		t.Fatal(err)
	}
	if objects := listObjects(t, st.client, st.bucket, st.prefix); len(objects) != 1 {
		t.Errorf("%d objects, want 1", len(objects))
	}
}

// TestConcurrentWrites: writers on several goroutines (as shards are)
// across partitions; every write acked once, never two acks at once, each
// goroutine's acks in its own order, every row uploaded once.
func TestConcurrentWrites(t *testing.T) {
	st := localStack(t)
	o, err := s3out.New(s3out.Options{
		Client: st.client, Bucket: st.bucket, Prefix: st.prefix, Name: "conc", Schema: testSchema,
		RollBytes: 32 << 10, RollInterval: 50 * time.Millisecond, MaxInFlightUploads: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 4, 8
	base := time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC)
	var (
		mu      sync.Mutex
		written []testRow
		got     = make([][]int, writers)
		running bool
		overlap bool
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(5, uint64(w)))
			for k := range perWriter {
				rows := genRows(r, fmt.Sprintf("w%d-%02d", w, k), 50+r.IntN(100), base, time.Second, 0)
				for i := range rows {
					rows[i].arrival = base.Add(time.Duration(w*k%3) * time.Hour)
				}
				b := batch(t, memory.DefaultAllocator, rows)
				err := o.Write(context.Background(), b, func(err error) {
					mu.Lock()
					defer mu.Unlock()
					if running {
						overlap = true
					}
					if err != nil {
						t.Errorf("writer %d write %d: %v", w, k, err)
					}
					got[w] = append(got[w], k)
				})
				b.Record.Release()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written = append(written, rows...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if overlap {
		t.Error("acks overlapped")
	}
	for w := range writers {
		if len(got[w]) != perWriter {
			t.Fatalf("writer %d: %d acks", w, len(got[w]))
		}
		for k, v := range got[w] {
			if v != k {
				t.Fatalf("writer %d acks out of order: %v", w, got[w])
			}
		}
	}
	objects := listObjects(t, st.client, st.bucket, st.prefix)
	checkFiles(t, objects, st.prefix, "conc", written, func(r testRow) string { return partitionOf(r.arrival) })
}

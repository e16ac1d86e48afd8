package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	s3out "github.com/shardflow/shardflow/sinks/s3"
)

const testShard = "shardId-000000000000"

// seqRows makes n rows whose ids are Kinesis-like sequence numbers (56
// digits, increasing, with gaps), arriving step apart from start.
func seqRows(r *rand.Rand, n int, start time.Time, step time.Duration) []testRow {
	rows := genRows(r, "x", n, start, time.Second, 0)
	seq := int64(1000)
	for i := range rows {
		seq += 1 + r.Int64N(5)
		rows[i].id = fmt.Sprintf("4954698668313554428650745793632162567570019247%010d", seq)
		rows[i].arrival = start.Add(time.Duration(i) * step)
	}
	return rows
}

// writeInBatches writes rows in batches of random sizes (1..maxBatch) and
// returns the acks.
func writeInBatches(t *testing.T, o *s3out.Output, rows []testRow, r *rand.Rand, maxBatch int) *ackLog {
	t.Helper()
	var cuts []int
	for i := 0; i < len(rows); {
		k := min(len(rows)-i, 1+r.IntN(maxBatch))
		cuts = append(cuts, i+k)
		i += k
	}
	acks := newAckLog(len(cuts))
	from := 0
	for n, to := range cuts {
		b := batch(t, memory.DefaultAllocator, rows[from:to])
		if err := o.Write(context.Background(), b, acks.ack(n)); err != nil {
			t.Fatal(err)
		}
		b.Record.Release()
		from = to
	}
	return acks
}

var segmentKeyPattern = regexp.MustCompile(`^dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/t-` + testShard + `-(\d+)-(\d+)\.parquet$`)

// lake is what an exactly-once output left under a prefix: data objects
// (relative keys), manifests and heads.
type lake struct {
	data      map[string][]byte
	manifests map[string][]byte
	heads     map[string][]byte
}

func readLake(t *testing.T, f *fakeS3, prefix string) lake {
	t.Helper()
	l := lake{data: map[string][]byte{}, manifests: map[string][]byte{}, heads: map[string][]byte{}}
	for key, body := range listObjects(t, f.client, fakeBucket, prefix) {
		rel := strings.TrimPrefix(key, prefix)
		switch {
		case strings.HasPrefix(rel, "_shardflow/manifests/"):
			l.manifests[rel] = body
		case strings.HasPrefix(rel, "_shardflow/shards/"):
			l.heads[rel] = body
		default:
			l.data[rel] = body
		}
	}
	return l
}

// checkLake reads every data object with parquet-go: each written row must
// be in exactly one object, under the hour of its own arrival, with its
// values, and each key must name the positions of its first and last rows.
// Every data object must be listed by exactly one manifest.
func checkLake(t *testing.T, l lake, written []testRow) {
	t.Helper()
	byID := map[string]testRow{}
	for _, r := range written {
		byID[r.id] = r
	}
	seen := map[string]string{}
	for key, body := range l.data {
		m := segmentKeyPattern.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("key %q is not dt=…/hr=…/t-<shard>-<first>-<last>.parquet", key)
		}
		rows := readParquet(t, body)
		if len(rows) == 0 {
			t.Fatalf("%s is empty", key)
		}
		if first, last := rows[0][0].(string), rows[len(rows)-1][0].(string); first != m[3] || last != m[4] {
			t.Fatalf("%s holds rows %s..%s", key, first, last)
		}
		for _, cells := range rows {
			id := cells[0].(string)
			w, ok := byID[id]
			if !ok {
				t.Fatalf("%s: row %s was never written", key, id)
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("row %s in %s and in %s", id, prev, key)
			}
			seen[id] = key
			if part := "dt=" + m[1] + "/hr=" + m[2] + "/"; part != partitionOf(w.arrival) {
				t.Fatalf("row %s (arrived %s) under %s", id, w.arrival, part)
			}
			if fmt.Sprintf("%#v", w.cells()) != fmt.Sprintf("%#v", cells) {
				t.Fatalf("row %s in %s differs:\n got  %#v\n want %#v", id, key, cells, w.cells())
			}
		}
	}
	if len(seen) != len(written) {
		t.Fatalf("%d of %d rows in %d objects", len(seen), len(written), len(l.data))
	}
	listed := map[string]int{}
	for mk, body := range l.manifests {
		var m struct {
			Entries []struct {
				URL       string `json:"url"`
				Mandatory bool   `json:"mandatory"`
				Meta      struct {
					ContentLength int64 `json:"content_length"`
					RecordCount   int64 `json:"record_count"`
				} `json:"meta"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(body, &m); err != nil || len(m.Entries) == 0 {
			t.Fatalf("manifest %s: %v %s", mk, err, body)
		}
		for _, e := range m.Entries {
			i := strings.Index(e.URL, "dt=")
			key := e.URL[i:]
			data, ok := l.data[key]
			if !ok || !e.Mandatory || e.Meta.ContentLength != int64(len(data)) || e.Meta.RecordCount != int64(len(readParquet(t, data))) {
				t.Fatalf("manifest %s entry %+v does not match the object (present %v, %d bytes)", mk, e, ok, len(data))
			}
			listed[key]++
		}
	}
	for key := range l.data {
		if listed[key] != 1 {
			t.Fatalf("%s is listed by %d manifests, want 1", key, listed[key])
		}
	}
}

func exactlyOptions(f *fakeS3, prefix string, mut func(*s3out.Options)) s3out.Options {
	return faultOptions(f, func(o *s3out.Options) {
		o.Prefix, o.ExactlyOnce, o.RollRecords, o.RollInterval = prefix, true, 700, time.Minute
		o.RowGroupRows = 300
		if mut != nil {
			mut(o)
		}
	})
}

// TestExactlyOnceObjectsDependOnRowsOnly: the same rows written in two
// different batchings give the same objects, byte for byte: segment ends
// (700 rows, 1 minute of arrival time, the hour) and Parquet write calls
// follow the rows, not the batches.
func TestExactlyOnceObjectsDependOnRowsOnly(t *testing.T) {
	f := newFakeS3(t)
	rows := seqRows(rand.New(rand.NewPCG(7, 7)), 5000, time.Date(2026, 11, 22, 10, 57, 30, 0, time.UTC), 40*time.Millisecond)
	var lakes []lake
	for run, prefix := range []string{"a/", "b/"} {
		o, err := s3out.New(exactlyOptions(f, prefix, nil))
		if err != nil {
			t.Fatal(err)
		}
		acks := writeInBatches(t, o, rows, rand.New(rand.NewPCG(uint64(run), 9)), 450)
		if err := o.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		acks.wait(t, time.Second)
		acks.inOrder(t)
		for i := range acks.want {
			if err := acks.err(i); err != nil {
				t.Fatalf("run %d write %d: %v", run, i, err)
			}
		}
		l := readLake(t, f, prefix)
		checkLake(t, l, rows)
		lakes = append(lakes, l)
		t.Logf("run %d: %d objects, %d manifests, stats %+v", run, len(l.data), len(l.manifests), o.Stats())
	}
	a, b := lakes[0], lakes[1]
	if len(a.data) < 8 || len(a.data) != len(b.data) || len(a.manifests) != len(b.manifests) {
		t.Fatalf("objects: %d and %d, manifests %d and %d; want the same, several", len(a.data), len(b.data), len(a.manifests), len(b.manifests))
	}
	for key, body := range a.data {
		if !bytes.Equal(body, b.data[key]) {
			t.Fatalf("%s differs between the two batchings (%d and %d bytes)", key, len(body), len(b.data[key]))
		}
	}
	for key, body := range a.manifests {
		if !bytes.Equal(bytes.ReplaceAll(body, []byte("/a/"), []byte("/b/")), b.manifests[key]) {
			t.Fatalf("manifest %s differs:\n%s\n%s", key, body, b.manifests[key])
		}
	}
	var h struct{ Shard, Committed string }
	if err := json.Unmarshal(a.heads["_shardflow/shards/"+testShard+".json"], &h); err != nil || h.Committed != rows[len(rows)-1].id {
		t.Fatalf("head %+v (%v): want committed through the last row %s", h, err, rows[len(rows)-1].id)
	}
}

// TestExactlyOnceReplayAfterCrash: the first run's commits start failing
// after three segments (objects written, manifests and heads not: a crash
// between upload and commit), so its later writes fail and it is
// abandoned. A second run replays every row from the start (a checkpoint
// older than anything written) in other batch sizes: committed rows are
// skipped, the uncommitted objects are rewritten under the same keys with
// the same bytes, and every row ends up in exactly one object.
func TestExactlyOnceReplayAfterCrash(t *testing.T) {
	f := newFakeS3(t)
	rows := seqRows(rand.New(rand.NewPCG(3, 3)), 4000, time.Date(2026, 11, 22, 11, 0, 0, 0, time.UTC), 30*time.Millisecond)
	var mu sync.Mutex
	commits := 0
	f.setRule(func(op, key string) (int, string) {
		if op != "PutObject" || !strings.Contains(key, "_shardflow/shards/") {
			return 0, ""
		}
		mu.Lock()
		defer mu.Unlock()
		if commits >= 3 {
			return 503, "SlowDown"
		}
		commits++
		return 0, ""
	})
	o1, err := s3out.New(exactlyOptions(f, "lake/", nil))
	if err != nil {
		t.Fatal(err)
	}
	acks1 := writeInBatches(t, o1, rows, rand.New(rand.NewPCG(1, 1)), 300)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := o1.Close(ctx); err == nil {
		t.Fatal("first run closed healthy although its commits failed")
	}
	failed := 0
	for i := range acks1.want {
		if acks1.err(i) != nil {
			failed++
		}
	}
	before := readLake(t, f, "lake/")
	// The fourth segment's manifest may be written (it goes before the
	// head); nothing after it is.
	if failed == 0 || len(before.manifests) < 3 || len(before.manifests) > 4 || len(before.data) <= len(before.manifests) {
		t.Fatalf("first run: %d failed writes, %d manifests, %d objects; want failures, 3-4 manifests, more objects", failed, len(before.manifests), len(before.data))
	}

	f.setRule(nil)
	o2, err := s3out.New(exactlyOptions(f, "lake/", nil))
	if err != nil {
		t.Fatal(err)
	}
	acks2 := writeInBatches(t, o2, rows, rand.New(rand.NewPCG(2, 2)), 500)
	if err := o2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks2.wait(t, time.Second)
	for i := range acks2.want {
		if err := acks2.err(i); err != nil {
			t.Fatalf("replay write %d: %v", i, err)
		}
	}
	after := readLake(t, f, "lake/")
	checkLake(t, after, rows)
	for key, body := range before.data {
		if !bytes.Equal(after.data[key], body) {
			t.Fatalf("%s: the replay changed an object the first run wrote", key)
		}
	}
	puts := map[string]int{}
	for _, op := range f.ops() {
		if k, ok := strings.CutPrefix(op, "PutObject lake/dt="); ok {
			puts[k]++
		}
	}
	rewritten := 0
	for _, n := range puts {
		if n > 1 {
			rewritten++
		}
	}
	st := o2.Stats()
	t.Logf("first run: %d objects (%d committed segments), %d failed writes; replay: %d objects rewritten byte-identical, %+v",
		len(before.data), len(before.manifests), failed, rewritten, st)
	if rewritten == 0 || st.Skipped == 0 || st.Skipped+st.Rows != int64(len(rows)) {
		t.Fatalf("rewritten %d, skipped %d + written %d of %d rows: want rewrites and skips adding up", rewritten, st.Skipped, st.Rows, len(rows))
	}
}

// TestExactlyOnceWallTimeCutIsReplayed: a quiet shard's segment is sealed
// by wall time (its end is not a function of the rows) and the crash comes
// before its manifest. The replay sees more rows that would have joined
// that segment, but ends it where the head says: same object, same bytes.
func TestExactlyOnceWallTimeCutIsReplayed(t *testing.T) {
	f := newFakeS3(t)
	start := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	rows := seqRows(rand.New(rand.NewPCG(5, 5)), 600, start, 10*time.Millisecond) // 6 s of arrivals
	var clockMu sync.Mutex
	now := start.Add(7 * time.Second)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	f.setRule(func(op, key string) (int, string) {
		if op == "PutObject" && strings.Contains(key, "_shardflow/manifests/") {
			return 500, "InternalError"
		}
		return 0, ""
	})
	opts := func(o *s3out.Options) {
		o.Now, o.IdleGrace, o.RollInterval = clock, 50*time.Millisecond, 10*time.Second
	}
	o1, err := s3out.New(exactlyOptions(f, "q/", opts))
	if err != nil {
		t.Fatal(err)
	}
	acks := writeInBatches(t, o1, rows[:300], rand.New(rand.NewPCG(1, 2)), 100)
	clockMu.Lock()
	now = start.Add(time.Minute) // quiet for long past RollInterval
	clockMu.Unlock()
	acks.wait(t, 5*time.Second) // sealed by the roller, commit failed
	if acks.err(0) == nil {
		t.Fatal("the segment committed although its manifest could not be written")
	}
	_ = o1.Close(context.Background())
	before := readLake(t, f, "q/")
	if len(before.data) != 1 || !strings.Contains(string(before.heads["_shardflow/shards/"+testShard+".json"]), `"cuts":["`+rows[299].id+`"]`) {
		t.Fatalf("first run: %d objects, head %s; want one object and the cut at %s recorded", len(before.data), before.heads, rows[299].id)
	}

	f.setRule(nil)
	o2, err := s3out.New(exactlyOptions(f, "q/", opts))
	if err != nil {
		t.Fatal(err)
	}
	acks2 := writeInBatches(t, o2, rows, rand.New(rand.NewPCG(3, 4)), 250)
	if err := o2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	acks2.wait(t, time.Second)
	after := readLake(t, f, "q/")
	checkLake(t, after, rows)
	for key, body := range before.data {
		if !bytes.Equal(after.data[key], body) {
			t.Fatalf("%s was not rewritten identically (present %v)", key, after.data[key] != nil)
		}
	}
	if len(after.data) != 2 {
		t.Fatalf("%d objects, want 2: the recorded cut and the Close", len(after.data))
	}
}

// TestExactlyOnceShardReleasedAndSkip: a released shard's open segment is
// dropped and its writes fail with ErrShardReleased; a later owner reads
// the head again. A replay of committed rows is skipped and acked at once.
func TestExactlyOnceShardReleasedAndSkip(t *testing.T) {
	f := newFakeS3(t)
	rows := seqRows(rand.New(rand.NewPCG(8, 8)), 1000, time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), time.Millisecond)
	o, err := s3out.New(exactlyOptions(f, "r/", func(o *s3out.Options) { o.RollRecords = 600 }))
	if err != nil {
		t.Fatal(err)
	}
	acks := newAckLog(2)
	writeRows(t, o, rows[:650], acks.ack(0)) // one segment sealed (600), one open
	writeRows(t, o, rows[650:700], acks.ack(1))
	o.ShardReleased(testShard)
	acks.wait(t, 5*time.Second)
	if !errors.Is(acks.err(0), s3out.ErrShardReleased) || !errors.Is(acks.err(1), s3out.ErrShardReleased) {
		t.Fatalf("acks after release: %v, %v; want ErrShardReleased", acks.err(0), acks.err(1))
	}
	if l := readLake(t, f, "r/"); len(l.data) != 1 {
		t.Fatalf("%d objects after the release, want only the sealed segment's", len(l.data))
	}
	// A batch still on its way after the release is refused.
	late := newAckLog(1)
	writeRows(t, o, rows[700:800], late.ack(0))
	late.wait(t, time.Second)
	if !errors.Is(late.err(0), s3out.ErrShardReleased) {
		t.Fatalf("write after the release: %v, want ErrShardReleased", late.err(0))
	}
	// The shard comes back: rows up to 600 are committed and skipped.
	o.ShardStarted(testShard)
	again := newAckLog(1)
	writeRows(t, o, rows, again.ack(0))
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again.wait(t, time.Second)
	if err := again.err(0); err != nil {
		t.Fatal(err)
	}
	checkLake(t, readLake(t, f, "r/"), rows)
	if st := o.Stats(); st.Skipped != 600 {
		t.Fatalf("skipped %d rows, want the 600 committed", st.Skipped)
	}
	// A full replay now skips everything and acks at once.
	o2, err := s3out.New(exactlyOptions(f, "r/", nil))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	b := batch(t, memory.DefaultAllocator, rows)
	if err := o2.Write(context.Background(), b, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	b.Record.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("a fully committed replay was not acked at once")
	}
	if err := o2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := o2.Stats(); st.Skipped != int64(len(rows)) || st.Files != 0 {
		t.Fatalf("replay stats %+v: want every row skipped, no file", st)
	}
}

// TestExactlyOnceDrain: after Drain the open segment is sealed at once and
// every later write is acked within an upload.
func TestExactlyOnceDrain(t *testing.T) {
	f := newFakeS3(t)
	rows := seqRows(rand.New(rand.NewPCG(9, 9)), 300, time.Now().UTC(), time.Millisecond)
	o, err := s3out.New(exactlyOptions(f, "d/", func(o *s3out.Options) { o.RollInterval = time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	acks := newAckLog(2)
	writeRows(t, o, rows[:100], acks.ack(0))
	o.Drain()
	writeRows(t, o, rows[100:], acks.ack(1))
	acks.wait(t, 3*time.Second)
	for i := range 2 {
		if err := acks.err(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLake(t, readLake(t, f, "d/"), rows)
}

var _ flow.Output = (*s3out.Output)(nil)

// TestExactlyOnceDrainShard: a shard handed to another worker seals its
// open segment at once (its writes ack within an upload, long before the
// roll interval), and the lake holds every row once.
func TestExactlyOnceDrainShard(t *testing.T) {
	f := newFakeS3(t)
	rows := seqRows(rand.New(rand.NewPCG(10, 10)), 200, time.Now().UTC(), time.Millisecond)
	o, err := s3out.New(exactlyOptions(f, "h/", func(o *s3out.Options) { o.RollInterval = time.Hour }))
	if err != nil {
		t.Fatal(err)
	}
	acks := newAckLog(1)
	writeRows(t, o, rows, acks.ack(0))
	select {
	case <-acks.done:
		t.Fatal("acked before the segment rolled: the test shows nothing")
	case <-time.After(300 * time.Millisecond):
	}
	o.DrainShard("shardId-000000000000") // the shard batch() writes for
	o.DrainShard("shardId-000000000009") // a shard with nothing open: no-op
	acks.wait(t, 3*time.Second)
	if err := acks.err(0); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkLake(t, readLake(t, f, "h/"), rows)
}

package window

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/sinks/deadletter"
)

var clickFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: "user_id", Type: decode.String},
	{Name: "page", Type: decode.String},
	{Name: "country", Type: decode.String},
	{Name: "ts", Type: decode.Timestamp},
	{Name: "price", Type: decode.Float64},
}

var clickAggregates = []Aggregate{
	{Name: "clicks", Func: Count},
	{Name: "revenue", Func: Sum, Column: "price"},
	{Name: "min_price", Func: Min, Column: "price"},
	{Name: "max_price", Func: Max, Column: "price"},
	{Name: "avg_price", Func: Avg, Column: "price"},
	{Name: "users", Func: CountDistinct, Column: "user_id"},
	{Name: "first_user", Func: First, Column: "user_id"},
	{Name: "last_user", Func: Last, Column: "user_id"},
}

// resultRow is one emitted result row.
type resultRow struct {
	start                  time.Time
	country, page          string
	clicks, users          int64
	revenue, minP, maxP, a float64
	first, last            string
}

// collector is an in-memory flow.Output that keeps result rows by row id
// and counts emissions of each id.
type collector struct {
	mu    sync.Mutex
	rows  map[string]resultRow
	times map[string]int
	hold  bool // never ack (an emitter that dies before the ack)
	// revs, when set (late_rows update), keeps each row id's highest
	// revision: a row replaces the kept one only with a higher revision.
	revs map[string]int64
	errs []string
}

func newCollector() *collector {
	return &collector{rows: map[string]resultRow{}, times: map[string]int{}}
}

func (c *collector) Write(_ context.Context, b *flow.Batch, ack flow.Ack) error {
	rec := b.Record
	col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range int(rec.NumRows()) {
		r := resultRow{
			start:   col("window_start").(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC(),
			country: col("country").(*array.String).Value(i),
			page:    col("page").(*array.String).Value(i),
			clicks:  col("clicks").(*array.Int64).Value(i),
			users:   col("users").(*array.Int64).Value(i),
			revenue: col("revenue").(*array.Float64).Value(i),
			minP:    col("min_price").(*array.Float64).Value(i),
			maxP:    col("max_price").(*array.Float64).Value(i),
			a:       col("avg_price").(*array.Float64).Value(i),
			first:   col("first_user").(*array.String).Value(i),
			last:    col("last_user").(*array.String).Value(i),
		}
		id := col("row_id").(*array.String).Value(i)
		if c.revs != nil {
			rev := col("revision").(*array.Int64).Value(i)
			old, seen := c.revs[id]
			switch {
			case !seen || rev > old:
				c.rows[id], c.revs[id] = r, rev
			case rev == old && c.rows[id] != r:
				c.errs = append(c.errs, fmt.Sprintf("row %s revision %d emitted with two values", id, rev))
			case rev < old:
				c.errs = append(c.errs, fmt.Sprintf("row %s: revision %d after %d", id, rev, old))
			}
			c.times[id]++
			continue
		}
		if old, ok := c.rows[id]; ok && old != r {
			panic(fmt.Sprintf("row %s re-emitted with different values: %+v vs %+v", id, old, r))
		}
		c.rows[id] = r
		c.times[id]++
	}
	if !c.hold {
		ack(nil)
	}
	return nil
}

func (c *collector) Close(context.Context) error { return nil }

// event is one generated input row with where it was put.
type event struct {
	workload.Event
	shard string
	seq   string
}

// generate makes n events spread over shards, each shard's in order of
// generation (event times mostly increasing, ~2 % up to 30 s late).
func generate(n, shards int, seed uint64) []event { return generateUsers(n, shards, seed, 2000) }

// generateUsers is generate with the given number of users.
func generateUsers(n, shards int, seed uint64, users int) []event {
	g := workload.New(workload.Config{Seed: seed, Total: n, Span: 10 * time.Minute, Users: users})
	evs := make([]event, n)
	perShard := make([]int, shards)
	for i := range evs {
		s := int(uint(i*7+i/13) % uint(shards))
		perShard[s]++
		evs[i] = event{Event: g.Next(), shard: fmt.Sprintf("shardId-%012d", s),
			seq: fmt.Sprintf("4959%020d", perShard[s])}
	}
	return evs
}

// batches cuts a shard's events into decoded batches of size n.
func batches(t *testing.T, evs []event, shard string, n int) []*flow.Batch {
	t.Helper()
	dec, err := decode.New(memory.DefaultAllocator, clickFields)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Release()
	var out []*flow.Batch
	var recs []flow.SourceRecord
	flushRecs := func() {
		if len(recs) == 0 {
			return
		}
		b, dead := dec.Decode(shard, recs)
		if len(dead) > 0 {
			t.Fatalf("decode: %v", dead[0].Reason)
		}
		out = append(out, b)
		recs = nil
	}
	for _, e := range evs {
		if e.shard != shard {
			continue
		}
		recs = append(recs, flow.SourceRecord{Data: e.AppendJSON(nil), SequenceNumber: e.seq})
		if len(recs) == n {
			flushRecs()
		}
	}
	flushRecs()
	return out
}

type windowKey struct {
	start         time.Time
	country, page string
}

// reference computes the expected rows over every event not dead-lettered.
func reference(evs []event, lateSeqs map[string]bool) map[windowKey]resultRow {
	return referenceHopping(evs, lateSeqs, time.Minute, time.Minute)
}

// referenceHopping is reference for windows of size starting every slide.
func referenceHopping(evs []event, lateSeqs map[string]bool, size, slide time.Duration) map[windowKey]resultRow {
	type acc struct {
		resultRow
		n                   int64
		firstTS, lastTS     time.Time
		distinct            map[string]bool
		minSet, maxSet, any bool
	}
	accs := map[windowKey]*acc{}
	for _, e := range evs {
		if lateSeqs[e.shard+"/"+e.seq] {
			continue
		}
		ts := e.TS.Truncate(time.Millisecond)
		for start := ts.Truncate(slide); start.After(ts.Add(-size)); start = start.Add(-slide) {
			k := windowKey{start, e.Country, e.Page}
			a := accs[k]
			if a == nil {
				a = &acc{distinct: map[string]bool{}}
				a.start, a.country, a.page = k.start, k.country, k.page
				accs[k] = a
			}
			user := fmt.Sprintf("u-%d", e.UserID)
			a.clicks++
			a.revenue += e.Price
			if !a.any || e.Price < a.minP {
				a.minP = e.Price
			}
			if !a.any || e.Price > a.maxP {
				a.maxP = e.Price
			}
			if !a.any || ts.Before(a.firstTS) || ts.Equal(a.firstTS) && user < a.first {
				a.first, a.firstTS = user, ts
			}
			if !a.any || ts.After(a.lastTS) || ts.Equal(a.lastTS) && user > a.last {
				a.last, a.lastTS = user, ts
			}
			a.any = true
			a.distinct[user] = true
		}
	}
	out := map[windowKey]resultRow{}
	for k, a := range accs {
		r := a.resultRow
		r.users = int64(len(a.distinct))
		r.a = a.revenue / float64(a.clicks)
		out[k] = r
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// compare checks emitted rows against the reference: exact for count,
// min, max, first, last; sums and averages to float rounding; distinct
// users within 3 standard errors of HyperLogLog (p=14: 0.81 %), at least 1.
func compare(t *testing.T, got *collector, want map[windowKey]resultRow) {
	t.Helper()
	got.mu.Lock()
	defer got.mu.Unlock()
	byKey := map[windowKey]resultRow{}
	for _, r := range got.rows {
		byKey[windowKey{r.start, r.country, r.page}] = r
	}
	if len(byKey) != len(want) {
		t.Errorf("emitted %d window/group rows, reference has %d", len(byKey), len(want))
	}
	bad := 0
	for k, w := range want {
		g, ok := byKey[k]
		if !ok {
			if bad++; bad < 5 {
				t.Errorf("missing row %v", k)
			}
			continue
		}
		tol := math.Max(1, 3*0.0081*float64(w.users))
		if g.clicks != w.clicks || !near(g.revenue, w.revenue) || g.minP != w.minP || g.maxP != w.maxP ||
			!near(g.a, w.a) || g.first != w.first || g.last != w.last || math.Abs(float64(g.users-w.users)) > tol {
			if bad++; bad < 5 {
				t.Errorf("row %v:\n got %+v\nwant %+v", k, g, w)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d rows differ from the reference", bad)
	}
}

// readDeadLetters reads a dead-letter file.
func readDeadLetters(t *testing.T, path string) []flow.DeadLetter {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []flow.DeadLetter
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d flow.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("dead letter %q: %v", sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

// worker is one task's operator and emitter.
type worker struct {
	op   *Operator
	emit *Emitter
}

type rig struct {
	t       *testing.T
	redis   redis.UniversalClient
	prefix  string
	out     *collector
	dlPath  string
	dl      *deadletter.Writer
	shards  []ShardInfo
	options func(o *Options)
	lockTTL time.Duration // emitter lock TTL on the operators' clock (default 500ms)
}

func newRig(t *testing.T, client redis.UniversalClient, prefix string, shards int) *rig {
	r := &rig{t: t, redis: client, prefix: prefix, out: newCollector(), dlPath: filepath.Join(t.TempDir(), "dead.jsonl")}
	var err error
	if r.dl, err = deadletter.OpenFile(r.dlPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.dl.Close(context.Background()) })
	for i := range shards {
		r.shards = append(r.shards, ShardInfo{ID: fmt.Sprintf("shardId-%012d", i)})
	}
	return r
}

func (r *rig) worker(name string, out flow.Output) *worker {
	dec, err := decode.New(memory.DefaultAllocator, clickFields)
	if err != nil {
		r.t.Fatal(err)
	}
	schema := dec.Schema()
	dec.Release()
	o := Options{
		Pipeline: "clicks", Name: "per_page", Schema: schema, TimeColumn: "ts", Size: time.Minute,
		GroupBy: []string{"country", "page"}, Aggregates: clickAggregates,
		MaxOutOfOrderness: 2 * time.Second, AllowedLateness: 3 * time.Second, IdleTimeout: 300 * time.Millisecond,
		FlushInterval: 20 * time.Millisecond, Redis: r.redis, KeyPrefix: r.prefix, DeadLetter: r.dl,
	}
	if r.options != nil {
		r.options(&o)
	}
	op, err := New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	lockTTL := 500 * time.Millisecond
	if r.lockTTL != 0 {
		lockTTL = r.lockTTL
	}
	em, err := op.NewEmitter(EmitterOptions{Output: out, Holder: name, Interval: 10 * time.Millisecond, LockTTL: lockTTL,
		Shards: func(context.Context) ([]ShardInfo, error) { return r.shards, nil }})
	if err != nil {
		r.t.Fatal(err)
	}
	return &worker{op: op, emit: em}
}

// feed writes batches in order and waits for every ack; it returns the
// number of batches acked without error.
func feed(t *testing.T, op *Operator, bs []*flow.Batch, pace time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	for _, b := range bs {
		wg.Add(1)
		if err := op.Write(context.Background(), b, func(err error) {
			if err != nil {
				t.Errorf("ack: %v", err)
			}
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pace)
	}
	wg.Wait()
}

// waitEmitted waits until the emitters emitted every window up to end.
func waitEmitted(t *testing.T, end time.Time, ems ...*Emitter) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range ems {
			if s := e.Stats(); !s.Emitted.Before(end) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range ems {
		t.Logf("emitter: %+v", e.Stats())
	}
	t.Fatalf("windows up to %s not emitted within 60s", end)
}

// runTwoWorkers feeds evs to two workers (shards 0-1 and 2-3, each shard
// paced by its own goroutine, batches of 50), waits until their emitters
// emitted every window ending at or before end, then stops both. settle,
// if set, runs after the wait and before the stop.
func (r *rig) runTwoWorkers(evs []event, out flow.Output, end time.Time, settle func(a, b *worker)) {
	t := r.t
	a, b := r.worker("worker-a", out), r.worker("worker-b", out)
	a.emit.Start()
	b.emit.Start()
	var wg sync.WaitGroup
	for i, s := range r.shards {
		w := a
		if i >= 2 {
			w = b
		}
		bs := batches(t, evs, s.ID, 50)
		wg.Add(1)
		go func() {
			defer wg.Done()
			feed(t, w.op, bs, time.Duration(10+3*i)*time.Millisecond)
		}()
	}
	wg.Wait()
	waitEmitted(t, end, a.emit, b.emit)
	if settle != nil {
		settle(a, b)
	}
	for _, w := range []*worker{a, b} {
		if err := w.emit.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.op.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func lateSet(t *testing.T, dls []flow.DeadLetter) map[string]bool {
	late := map[string]bool{}
	for _, d := range dls {
		if len(d.Reason) < 9 || d.Reason[:9] != "late_row:" {
			t.Fatalf("unexpected dead letter: %s", d.Reason)
		}
		late[d.Shard+"/"+d.SequenceNumber] = true
	}
	return late
}

func lastWindowEnd(evs []event) time.Time {
	var maxTS time.Time
	for _, e := range evs {
		if e.TS.After(maxTS) {
			maxTS = e.TS
		}
	}
	return maxTS.Truncate(time.Minute).Add(time.Minute)
}

// Two workers, four shards fed concurrently with out-of-order and late
// events: the window rows equal a plain computation over the same input
// minus the dead-lettered late rows, every input row is either counted or
// dead-lettered, and every window row is emitted once.
func TestWindowsMatchReferenceTwoWorkersFourShards(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	windowsMatchReference(t, client, prefix)
}

// The same against the local Redis Cluster (3 primaries): the shards'
// state lands on different primaries, and a script whose keys span slots
// fails with CROSSSLOT.
func TestWindowsMatchReferenceOnCluster(t *testing.T) {
	client, prefix := testenv.Load(t).RedisCluster(t)
	windowsMatchReference(t, client, prefix)
}

func windowsMatchReference(t *testing.T, client redis.UniversalClient, prefix string) {
	r := newRig(t, client, prefix, 4)
	evs := generate(24_000, 4, 1)
	r.runTwoWorkers(evs, r.out, lastWindowEnd(evs), nil)
	late := lateSet(t, readDeadLetters(t, r.dlPath))
	compare(t, r.out, reference(evs, late))
	var counted int64
	for id, n := range r.out.times {
		if n != 1 {
			t.Errorf("row %s emitted %d times", id, n)
		}
		counted += r.out.rows[id].clicks
	}
	if counted+int64(len(late)) != int64(len(evs)) {
		t.Fatalf("counted %d + late %d != %d events", counted, len(late), len(evs))
	}
	if len(late) == 0 {
		t.Fatalf("no late rows: the test did not exercise lateness")
	}
	t.Logf("events %d, counted %d, late (dead-lettered) %d, rows %d", len(evs), counted, len(late), len(r.out.rows))
}

// feedTracked writes batches from index from on and records which were
// acked without error; it stops early (without waiting) after stopAfter
// batches when stopAfter > 0.
func feedTracked(t *testing.T, op *Operator, bs []*flow.Batch, from, stopAfter int, acked []bool, mu *sync.Mutex, wg *sync.WaitGroup) {
	t.Helper()
	for i := from; i < len(bs); i++ {
		if stopAfter > 0 && i-from == stopAfter {
			return
		}
		wg.Add(1)
		bs[i].Record.Retain()
		if err := op.Write(context.Background(), bs[i], func(err error) {
			mu.Lock()
			acked[i] = err == nil
			mu.Unlock()
			wg.Done()
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(8 * time.Millisecond)
	}
}

// checkpoint is the index after the longest acked prefix.
func checkpoint(acked []bool, mu *sync.Mutex) int {
	mu.Lock()
	defer mu.Unlock()
	for i, ok := range acked {
		if !ok {
			return i
		}
	}
	return len(acked)
}

// A worker dies mid-run (its unflushed partials and acks are lost), a new
// worker replays its shards from the checkpoint, and from further back
// than the checkpoint (a checkpoint may lag the applied mark); meanwhile
// the emitter holding the lock dies after writing results but before the
// ack. Results still equal the reference, no row is double counted, and
// the only duplicates are re-emissions of identical rows with the same id.
func TestWindowsExactAfterWorkerAndEmitterCrash(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 4)
	evs := generate(16_000, 4, 2)
	held := newCollector()
	held.hold = true
	a := r.worker("worker-a", held) // its emitter never sees an ack
	b := r.worker("worker-b", r.out)
	a.emit.Start()
	all := make([][]*flow.Batch, 4)
	acks := make([][]bool, 4)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var feeders sync.WaitGroup
	for i, s := range r.shards {
		all[i] = batches(t, evs, s.ID, 40)
		acks[i] = make([]bool, len(all[i]))
		w, stop := a, len(all[i])/2 // worker a dies halfway through its shards
		if i >= 2 {
			w, stop = b, 0
		}
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			feedTracked(t, w.op, all[i], 0, stop, acks[i], &mu, &wg)
		}()
	}
	// Let a emit (and hang on its unacked write) at least once.
	deadline := time.Now().Add(20 * time.Second)
	for len(heldIDs(held)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(heldIDs(held)) == 0 {
		t.Fatal("worker a's emitter never emitted")
	}
	feeders.Wait()
	// kill -9 of worker a: nothing more is flushed; the KCL would never
	// hear of its pending batches again.
	crashed, cancel := context.WithCancel(context.Background())
	cancel()
	_ = a.emit.Stop(crashed)
	_ = a.op.Close(crashed)
	b.emit.Start()
	// Worker c takes over shards 0 and 1: it replays from 10 batches
	// before the checkpoint.
	c := r.worker("worker-c", r.out)
	for i := range 2 {
		from := max(0, checkpoint(acks[i], &mu)-10)
		if from >= len(all[i])/2 {
			t.Fatalf("shard %d: checkpoint past the crash point", i)
		}
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			feedTracked(t, c.op, all[i], from, 0, acks[i], &mu, &wg)
		}()
	}
	feeders.Wait()
	wg.Wait()
	for i := range 4 {
		if cp := checkpoint(acks[i], &mu); cp != len(all[i]) {
			t.Fatalf("shard %d: checkpoint at batch %d of %d", i, cp, len(all[i]))
		}
	}
	waitEmitted(t, lastWindowEnd(evs), b.emit)
	for _, w := range []*worker{b, c} {
		if err := w.emit.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := w.op.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// What reached the destination: both emitters' writes.
	merged := newCollector()
	reemitted := 0
	for _, c := range []*collector{held, r.out} {
		for id, row := range c.rows {
			if old, ok := merged.rows[id]; ok {
				reemitted++
				if old != row {
					t.Fatalf("row %s re-emitted with other values:\n%+v\n%+v", id, old, row)
				}
			}
			merged.rows[id] = row
			merged.times[id] += c.times[id]
		}
	}
	late := lateSet(t, readDeadLetters(t, r.dlPath))
	compare(t, merged, reference(evs, late))
	var counted int64
	for _, row := range merged.rows {
		counted += row.clicks
	}
	if counted+int64(len(late)) != int64(len(evs)) {
		t.Fatalf("counted %d + late %d != %d events", counted, len(late), len(evs))
	}
	if reemitted == 0 {
		t.Fatalf("the crashed emitter's rows were not re-emitted by its successor")
	}
	t.Logf("events %d, counted %d, late %d, rows %d, re-emitted with the same id %d",
		len(evs), counted, len(late), len(merged.rows), reemitted)
}

func heldIDs(c *collector) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.times))
	for k, v := range c.times {
		out[k] = v
	}
	return out
}

// late_rows update: late rows (within the horizon) are applied to their
// closed windows and the changed rows re-emitted with a higher revision.
// Keeping each row id's highest revision gives exactly the reference over
// every event; nothing is dead-lettered.
func TestLateRowsUpdateWindows(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 4)
	r.options = func(o *Options) { o.LateRows = LateUpdate }
	r.out.revs = map[string]int64{}
	evs := generate(16_000, 4, 6)
	var updates int64
	r.runTwoWorkers(evs, r.out, lastWindowEnd(evs), func(a, b *worker) {
		// Updates of the last windows follow within a few cycles.
		time.Sleep(200 * time.Millisecond)
		updates = a.emit.Stats().Updates + b.emit.Stats().Updates
	})
	if len(r.out.errs) > 0 {
		t.Fatalf("%d revision errors, first: %s", len(r.out.errs), r.out.errs[0])
	}
	if dl := readDeadLetters(t, r.dlPath); len(dl) != 0 {
		t.Fatalf("%d dead letters (first %s); want none within the update horizon", len(dl), dl[0].Reason)
	}
	compare(t, r.out, reference(evs, nil))
	if updates == 0 {
		t.Fatal("no window was updated: the test did not exercise late rows")
	}
	t.Logf("events %d, rows %d, update rows emitted %d", len(evs), len(r.out.rows), updates)
}

// Hopping windows (1 minute every 20 s) over two workers and four shards:
// each row counts in its three windows; equal to the reference.
func TestHoppingWindowsMatchReference(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 4)
	// The last windows end 40 s after the last event: the quiet stream's
	// watermark gets there on a clock running five times faster.
	t0 := time.Now()
	r.options = func(o *Options) {
		o.Slide = 20 * time.Second
		o.Now = func() time.Time { return t0.Add(5 * time.Since(t0)) }
	}
	r.lockTTL = 10 * time.Second // 2 s of real time: no lock flapping under load
	evs := generate(12_000, 4, 8)
	r.runTwoWorkers(evs, r.out, lastWindowEnd(evs).Add(40*time.Second), nil)
	late := lateSet(t, readDeadLetters(t, r.dlPath))
	compare(t, r.out, referenceHopping(evs, late, time.Minute, 20*time.Second))
	var counted int64
	for id, n := range r.out.times {
		if n != 1 {
			t.Errorf("row %s emitted %d times", id, n)
		}
		counted += r.out.rows[id].clicks
	}
	if counted != 3*int64(len(evs)-len(late)) {
		t.Fatalf("counted %d, want 3 × (%d events − %d late)", counted, len(evs), len(late))
	}
	t.Logf("events %d, late %d, rows %d", len(evs), len(late), len(r.out.rows))
}

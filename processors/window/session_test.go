package window

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
)

type sessionRow struct {
	start, end time.Time
	user       string
	clicks     int64
	revenue    float64
	maxP       float64
	first      string
}

// sessionCollector keeps session rows by row id.
type sessionCollector struct {
	mu    sync.Mutex
	rows  map[string]sessionRow
	times map[string]int
}

func (c *sessionCollector) Write(_ context.Context, b *flow.Batch, ack flow.Ack) error {
	rec := b.Record
	col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range int(rec.NumRows()) {
		r := sessionRow{
			start:   col("window_start").(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC(),
			end:     col("window_end").(*array.Timestamp).Value(i).ToTime(arrow.Microsecond).UTC(),
			user:    col("user_id").(*array.String).Value(i),
			clicks:  col("clicks").(*array.Int64).Value(i),
			revenue: col("revenue").(*array.Float64).Value(i),
			maxP:    col("max_price").(*array.Float64).Value(i),
			first:   col("first_page").(*array.String).Value(i),
		}
		id := col("row_id").(*array.String).Value(i)
		c.rows[id] = r
		c.times[id]++
	}
	ack(nil)
	return nil
}

func (c *sessionCollector) Close(context.Context) error { return nil }

// Session windows (gap 10 s per user, ~7.5 s between a user's events) over four shards and two workers:
// every input row is either dead-lettered as late or in exactly one
// emitted session (its event time within [start, end − gap] of a session
// of its user); each session's count, sum, max and first page equal a
// recomputation over its rows; sessions of a user do not overlap; each
// row id is emitted once.
func TestSessionWindowsTwoWorkersFourShards(t *testing.T) {
	env := testenv.Load(t)
	client, prefix := env.Redis(t)
	r := newRig(t, client, prefix, 4)
	const gap = 10 * time.Second
	r.options = func(o *Options) {
		o.Size, o.Gap, o.GroupBy = 0, gap, []string{"user_id"}
		o.Aggregates = []Aggregate{
			{Name: "clicks", Func: Count}, {Name: "revenue", Func: Sum, Column: "price"},
			{Name: "max_price", Func: Max, Column: "price"}, {Name: "first_page", Func: First, Column: "page"},
		}
	}
	evs := generateUsers(16_000, 4, 4, 200)
	out := &sessionCollector{rows: map[string]sessionRow{}, times: map[string]int{}}
	var maxTS time.Time
	for _, e := range evs {
		if e.TS.After(maxTS) {
			maxTS = e.TS
		}
	}
	r.runTwoWorkers(evs, out, maxTS.Add(gap), nil)
	late := lateSet(t, readDeadLetters(t, r.dlPath))
	// Sessions by user, ordered.
	byUser := map[string][]sessionRow{}
	for id, row := range out.rows {
		if out.times[id] != 1 {
			t.Errorf("session %s emitted %d times", id, out.times[id])
		}
		byUser[row.user] = append(byUser[row.user], row)
	}
	for u, ss := range byUser {
		sort.Slice(ss, func(i, j int) bool { return ss[i].start.Before(ss[j].start) })
		for i := 1; i < len(ss); i++ {
			if !ss[i].start.After(ss[i-1].end.Add(-gap)) {
				t.Fatalf("user %s: sessions overlap: %+v and %+v", u, ss[i-1], ss[i])
			}
		}
	}
	type acc struct {
		clicks  int64
		revenue float64
		maxP    float64
		first   string
		firstTS time.Time
		lastTS  time.Time
	}
	accs := map[string]*acc{} // by user + session start
	counted := 0
	for _, e := range evs {
		if late[e.shard+"/"+e.seq] {
			continue
		}
		user := fmt.Sprintf("u-%d", e.UserID)
		ts := e.TS.Truncate(time.Millisecond)
		ss := byUser[user]
		i := sort.Search(len(ss), func(i int) bool { return ss[i].start.After(ts) }) - 1
		if i < 0 || ts.After(ss[i].end.Add(-gap)) {
			t.Fatalf("event %s of %s at %s is in no emitted session", e.ID(), user, ts)
		}
		k := user + "/" + ss[i].start.String()
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
		}
		if a.clicks == 0 || e.Price > a.maxP {
			a.maxP = e.Price
		}
		if a.clicks == 0 || ts.Before(a.firstTS) || ts.Equal(a.firstTS) && e.Page < a.first {
			a.first, a.firstTS = e.Page, ts
		}
		if ts.After(a.lastTS) {
			a.lastTS = ts
		}
		a.clicks++
		a.revenue += e.Price
		counted++
	}
	for u, ss := range byUser {
		for _, s := range ss {
			a := accs[u+"/"+s.start.String()]
			if a == nil {
				t.Fatalf("session %+v holds no input row", s)
			}
			if s.clicks != a.clicks || math.Abs(s.revenue-a.revenue) > 1e-6*math.Max(1, a.revenue) || s.maxP != a.maxP ||
				s.first != a.first || !s.start.Equal(a.firstTS) || !s.end.Equal(a.lastTS.Add(gap)) {
				t.Fatalf("session %+v; recomputed %+v", s, *a)
			}
		}
	}
	if counted+len(late) != len(evs) {
		t.Fatalf("counted %d + late %d != %d", counted, len(late), len(evs))
	}
	t.Logf("events %d: in sessions %d, late %d; %d sessions of %d users", len(evs), counted, len(late), len(out.rows), len(byUser))
}

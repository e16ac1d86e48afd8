package enrich_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
)

var userFields = []enrich.Field{
	{From: "tier", Type: decode.String},
	{From: "score", As: "user_score", Type: decode.Int64},
}

func col(tb testing.TB, b *flow.Batch, name string) []string {
	tb.Helper()
	idx := b.Record.Schema().FieldIndices(name)
	if len(idx) != 1 {
		tb.Fatalf("no column %q in %v", name, b.Record.Schema())
	}
	c := b.Record.Column(idx[0])
	out := make([]string, c.Len())
	for i := range out {
		out[i] = c.ValueStr(i)
	}
	return out
}

func TestRedisLookupOneRoundTripPerBatch(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 500, "t")
	in := usersBatch(t, mem, 10_000, 500)
	var cnt counter
	rdb.AddHook(&cnt)
	var trips []enrich.RoundTrip
	var cacheCalls [][2]int // (lookups, hits) per batch, for the metrics hooks
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields,
		OnRoundTrip: func(rt enrich.RoundTrip) { trips = append(trips, rt) },
		OnCache:     func(lookups, hits int) { cacheCalls = append(cacheCalls, [2]int{lookups, hits}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	ctx := context.Background()

	out, dead, err := l.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if cmds, pipes, piped := cnt.take(); cmds != 0 || pipes != 1 || piped != 500 {
		t.Errorf("first batch sent %d commands and %d pipelines of %d commands; want 0, 1, 500", cmds, pipes, piped)
	}
	if s := l.Stats(); s.RoundTrips != 1 || s.Fetched != 500 || s.Keys != 10_000 || s.CacheHits != 0 || s.CachedKeys != 500 {
		t.Errorf("stats after the first batch: %+v", s)
	}
	if len(trips) != 1 || trips[0].Keys != 500 || trips[0].Found != 500 || trips[0].Err != nil {
		t.Errorf("round trips reported: %+v", trips)
	}
	if len(dead) != 0 || out.Rows() != 10_000 {
		t.Fatalf("%d rows, dead %v", out.Rows(), dead)
	}
	tiers, scores, users := col(t, out, "tier"), col(t, out, "user_score"), col(t, out, "user_id")
	for _, i := range []int{0, 1, 499, 500, 777, 9_999} {
		u := i % 500
		if users[i] != fmt.Sprintf("u-%d", u) || tiers[i] != fmt.Sprintf("t%d", u%3) || scores[i] != fmt.Sprint(u) {
			t.Errorf("row %d: user %s tier %s score %s", i, users[i], tiers[i], scores[i])
		}
	}
	out.Record.Release()

	out, _, err = l.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	out.Record.Release()
	if cmds, pipes, _ := cnt.take(); cmds != 0 || pipes != 0 {
		t.Errorf("cached batch sent %d commands, %d pipelines; want none", cmds, pipes)
	}
	if s := l.Stats(); s.RoundTrips != 1 || s.CacheHits != 10_000 || s.Batches != 2 || s.RowsEnriched != 20_000 {
		t.Errorf("stats after the cached batch: %+v", s)
	}
	if len(cacheCalls) != 2 || cacheCalls[0] != [2]int{10_000, 0} || cacheCalls[1] != [2]int{10_000, 10_000} {
		t.Errorf("OnCache calls %v, want [10000 0] then [10000 10000]", cacheCalls)
	}
}

func TestRedisLookupServesUpdatesAfterTTL(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 3, "old")
	in := usersBatch(t, mem, 30, 3)
	clk := newClock()
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields,
		CacheTTL: time.Minute, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	tiersOf := func() []string {
		t.Helper()
		out, _, err := l.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Record.Release()
		return col(t, out, "tier")[:3]
	}
	if got := tiersOf(); !slices.Equal(got, []string{"old0", "old1", "old2"}) {
		t.Fatalf("tiers %v", got)
	}
	seedUsers(t, rdb, prefix, 3, "new")
	clk.Advance(59 * time.Second)
	if got := tiersOf(); !slices.Equal(got, []string{"old0", "old1", "old2"}) || l.Stats().RoundTrips != 1 {
		t.Errorf("within the TTL: tiers %v, %d round trips; want the cached values, 1", got, l.Stats().RoundTrips)
	}
	clk.Advance(2 * time.Second)
	if got := tiersOf(); !slices.Equal(got, []string{"new0", "new1", "new2"}) || l.Stats().RoundTrips != 2 {
		t.Errorf("after the TTL: tiers %v, %d round trips; want the updated values, 2", got, l.Stats().RoundTrips)
	}
}

func TestRedisLookupRealTTL(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 1, "old")
	in := usersBatch(t, mem, 5, 1)
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields, CacheTTL: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	tier := func() string {
		out, _, err := l.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Record.Release()
		return col(t, out, "tier")[0]
	}
	if got := tier(); got != "old0" {
		t.Fatalf("tier %s", got)
	}
	seedUsers(t, rdb, prefix, 1, "new")
	if got := tier(); got != "old0" {
		t.Errorf("within the TTL: %s", got)
	}
	time.Sleep(200 * time.Millisecond)
	if got := tier(); got != "new0" {
		t.Errorf("after the TTL: %s, want new0", got)
	}
}

func TestRedisLookupNegativeCaching(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	in := usersBatch(t, mem, 10, 2)
	for _, neg := range []time.Duration{10 * time.Second, -1} {
		clk := newClock()
		l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
			Key: "user:{user_id}", KeyPrefix: fmt.Sprintf("%sneg%d:", prefix, neg), Fields: userFields,
			NegativeTTL: neg, Now: clk.Now,
		})
		if err != nil {
			t.Fatal(err)
		}
		run := func() []string {
			out, _, err := l.Process(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Record.Release()
			return col(t, out, "tier")[:2]
		}
		if got := run(); !slices.Equal(got, []string{"(null)", "(null)"}) {
			t.Errorf("neg %v: missing users: %v", neg, got)
		}
		seedUsers(t, rdb, fmt.Sprintf("%sneg%d:", prefix, neg), 2, "t")
		got := run()
		trips := l.Stats().RoundTrips
		if neg > 0 && (!slices.Equal(got, []string{"(null)", "(null)"}) || trips != 1) {
			t.Errorf("within the negative TTL: %v after %d round trips; want nulls, 1", got, trips)
		}
		if neg < 0 && (!slices.Equal(got, []string{"t0", "t1"}) || trips != 2) {
			t.Errorf("without negative caching: %v after %d round trips; want found, 2", got, trips)
		}
		clk.Advance(11 * time.Second)
		if got := run(); !slices.Equal(got, []string{"t0", "t1"}) {
			t.Errorf("neg %v: after the negative TTL: %v", neg, got)
		}
		l.Close(context.Background())
	}
}

func TestRedisLookupMissPolicies(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 2, "t")
	// u-0 and u-1 exist, u-7 does not, e3 has no user.
	in := batchOf(t, mem,
		`{"event_id":"e0","user_id":"u-0"}`, `{"event_id":"e1","user_id":"u-7"}`,
		`{"event_id":"e2","user_id":"u-1"}`, `{"event_id":"e3","user_id":null}`)
	def := "bronze"
	fields := []enrich.Field{{From: "tier", Type: decode.String, Default: &def}, {From: "score", Type: decode.Int64}}
	cases := []struct {
		policy   enrich.MissPolicy
		events   []string
		tiers    []string
		scores   []string
		deadWhy  []string
		deadSeqs []string
	}{
		{enrich.MissNull, []string{"e0", "e1", "e2", "e3"}, []string{"t0", "(null)", "t1", "(null)"}, []string{"0", "(null)", "1", "(null)"}, nil, nil},
		{enrich.MissDefault, []string{"e0", "e1", "e2", "e3"}, []string{"t0", "bronze", "t1", "bronze"}, []string{"0", "(null)", "1", "(null)"}, nil, nil},
		{enrich.MissDrop, []string{"e0", "e2"}, []string{"t0", "t1"}, []string{"0", "1"}, nil, nil},
		{enrich.MissDeadLetter, []string{"e0", "e2"}, []string{"t0", "t1"}, []string{"0", "1"},
			[]string{"enrich_miss: " + prefix + "user:u-7", "enrich_miss: user:{user_id}: user_id is null"}, []string{"1", "3"}},
	}
	for _, c := range cases {
		l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
			Key: "user:{user_id}", KeyPrefix: prefix, Fields: fields, OnMiss: c.policy,
		})
		if err != nil {
			t.Fatal(err)
		}
		out, dead, err := l.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got := col(t, out, "event_id"); !slices.Equal(got, c.events) {
			t.Errorf("%s: events %v, want %v", c.policy, got, c.events)
		}
		if got := col(t, out, "tier"); !slices.Equal(got, c.tiers) {
			t.Errorf("%s: tiers %v, want %v", c.policy, got, c.tiers)
		}
		if got := col(t, out, "score"); !slices.Equal(got, c.scores) {
			t.Errorf("%s: scores %v, want %v", c.policy, got, c.scores)
		}
		var why, seqs []string
		for _, d := range dead {
			why, seqs = append(why, d.Reason), append(seqs, d.SequenceNumber)
			var row map[string]any
			if err := json.Unmarshal(d.Raw, &row); err != nil || row["event_id"] == nil || d.Shard != "shard-1" {
				t.Errorf("%s: dead letter %+v (raw %s): want the input row", c.policy, d, d.Raw)
			}
		}
		if !slices.Equal(why, c.deadWhy) || !slices.Equal(seqs, c.deadSeqs) {
			t.Errorf("%s: dead letters %q at %v, want %q at %v", c.policy, why, seqs, c.deadWhy, c.deadSeqs)
		}
		if len(out.Origins) != out.Rows() {
			t.Errorf("%s: %d origins for %d rows", c.policy, len(out.Origins), out.Rows())
		}
		for i, o := range out.Origins {
			if e := col(t, out, "event_id")[i]; "e"+o.SequenceNumber != e {
				t.Errorf("%s: row %d (%s) has origin %s", c.policy, i, e, o.SequenceNumber)
			}
		}
		out.Record.Release()
		l.Close(context.Background())
	}
}

func TestRedisLookupJSONSourceAndBadValues(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	ctx := context.Background()
	set := map[string]string{
		"u-0": `{"tier":"gold","score":42,"since":"2020-01-02T03:04:05Z","vip":true,"tags":["a"]}`,
		"u-1": `{"tier":null,"score":"7"}`,
		"u-2": `{"tier":"x","score":"many"}`, // score is not an int64
		"u-3": `[1,2]`,                       // not an object
	}
	for u, v := range set {
		if err := rdb.Set(ctx, prefix+"j:"+u, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	in := usersBatch(t, mem, 10, 5) // u-4 is missing
	hash, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "j:{user_id}", KeyPrefix: prefix, Fields: userFields, OnMiss: enrich.MissDeadLetter,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hash.Close(ctx)
	// Read as hashes, the JSON strings are of the wrong type: bad data.
	hout, hdead, err := hash.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	hout.Record.Release()
	if len(hdead) != 10 || !strings.HasPrefix(hdead[0].Reason, "enrich_bad_value: "+prefix+"j:u-0: WRONGTYPE") {
		t.Errorf("hash lookup of strings: %d dead, first %+v", len(hdead), hdead[0])
	}
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "j:{user_id}", KeyPrefix: prefix, Source: enrich.SourceJSON, OnMiss: enrich.MissDeadLetter,
		Fields: []enrich.Field{
			{From: "tier", Type: decode.String}, {From: "score", Type: decode.Int64},
			{From: "since", Type: decode.Timestamp}, {From: "vip", Type: decode.Bool}, {From: "tags", Type: decode.String},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	out, dead, err := l.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Record.Release()
	if got := col(t, out, "user_id"); !slices.Equal(got, []string{"u-0", "u-1", "u-0", "u-1"}) {
		t.Errorf("users %v", got)
	}
	for name, want := range map[string][]string{
		"tier": {"gold", "(null)"}, "score": {"42", "7"}, "since": {"2020-01-02T03:04:05Z", "(null)"},
		"vip": {"true", "(null)"}, "tags": {`["a"]`, "(null)"},
	} {
		if got := col(t, out, name)[:2]; !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	reasons := map[string]bool{}
	for _, d := range dead {
		reasons[d.Reason] = true
	}
	for _, want := range []string{
		`enrich_bad_value: ` + prefix + `j:u-2: score: "many" is not an int64`,
		"enrich_bad_value: " + prefix + "j:u-3: not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
		"enrich_miss: " + prefix + "j:u-4",
	} {
		if !reasons[want] {
			t.Errorf("no dead letter %q among %v", want, reasons)
		}
	}
	if len(dead) != 6 {
		t.Errorf("%d dead letters, want 6", len(dead))
	}
}

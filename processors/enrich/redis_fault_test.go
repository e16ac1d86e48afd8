package enrich_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
)

func TestRedisLookupUnavailable(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 20, "t")
	sw := newSwitchable(t)
	l, err := enrich.NewRedisLookup(mem, usersBatch(t, mem, 1, 1).Record.Schema(), sw, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	ctx := context.Background()
	warm := usersBatch(t, mem, 10, 10) // u-0 .. u-9
	out, _, err := l.Process(ctx, warm)
	if err != nil {
		t.Fatal(err)
	}
	out.Record.Release()

	sw.down()
	// Cached keys are served without Redis.
	out, _, err = l.Process(ctx, warm)
	if err != nil {
		t.Fatalf("cached batch while Redis is down: %v", err)
	}
	out.Record.Release()
	// A batch that needs Redis fails whole.
	cold := usersBatch(t, mem, 40, 20) // u-10 .. u-19 are not cached
	out, dead, err := l.Process(ctx, cold)
	if err == nil || out != nil || dead != nil {
		t.Fatalf("Process with Redis down = %v, %v, %v; want an error and nothing else", out, dead, err)
	}
	if !strings.Contains(err.Error(), "enrich: redis lookup: fetching 10 keys (") {
		t.Errorf("error %q", err)
	}
	if s := l.Stats(); s.CachedKeys != 10 || s.Errors != 1 {
		t.Errorf("stats after the failure: %+v", s)
	}

	// The caller retries with backoff until Redis is back.
	var attempts []int
	out, dead, err = transform.Retry(ctx, l, cold, transform.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
		func(attempt int, err error) {
			attempts = append(attempts, attempt)
			if attempt == 3 {
				sw.up()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Record.Release()
	if len(attempts) != 3 || len(dead) != 0 || out.Rows() != 40 {
		t.Errorf("after %d failed attempts: %d rows, %d dead", len(attempts), out.Rows(), len(dead))
	}
	if got := col(t, out, "tier"); got[15] != "t0" || got[11] != "t2" {
		t.Errorf("tiers %v", got)
	}
}

func TestRedisLookupCacheIsBounded(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 300, "t")
	in := usersBatch(t, mem, 300, 300)
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields, CacheSize: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	for range 2 {
		out, _, err := l.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got := col(t, out, "tier"); got[299] != "t2" {
			t.Errorf("tier of u-299 = %s", got[299])
		}
		out.Record.Release()
	}
	// The batch's keys do not fit: the second batch finds only the last
	// 100 keys of the first and fetches the others again.
	if s := l.Stats(); s.CachedKeys != 100 || s.RoundTrips != 2 || s.Fetched != 500 || s.CacheHits != 100 {
		t.Errorf("stats %+v", s)
	}
}

func TestRedisLookupConcurrent(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	seedUsers(t, rdb, prefix, 200, "t")
	in := usersBatch(t, mem, 1000, 200)
	clk := newClock()
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: userFields, CacheSize: 150, CacheTTL: time.Second, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 20 {
				if g == 0 && i%5 == 0 {
					clk.Advance(time.Second)
				}
				out, dead, err := l.Process(context.Background(), in)
				if err != nil {
					errs <- err
					return
				}
				tiers := col(t, out, "tier")
				out.Record.Release()
				if len(dead) != 0 || len(tiers) != 1000 || tiers[199] != "t1" {
					errs <- fmt.Errorf("%d dead, tiers[199] = %s", len(dead), tiers[199])
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if s := l.Stats(); s.RoundTrips > s.Batches {
		t.Errorf("%d round trips for %d batches", s.RoundTrips, s.Batches)
	}
}

func TestNewRedisLookupErrors(t *testing.T) {
	mem := checked(t)
	rdb, _ := redisFor(t)
	schema := usersBatch(t, mem, 1, 1).Record.Schema()
	bad := "x"
	cases := []struct {
		opts enrich.RedisOptions
		want []string
	}{
		{enrich.RedisOptions{Key: "user:{usr_id}", Fields: userFields}, []string{`key: unknown column "usr_id" in "user:{usr_id}"`}},
		{enrich.RedisOptions{Key: "user:{user_id", Fields: userFields}, []string{"key: unclosed {"}},
		{enrich.RedisOptions{Key: "user", Fields: userFields}, []string{"no {column} placeholder"}},
		{enrich.RedisOptions{Key: "u:{user_id}"}, []string{"fields: at least one field"}},
		{enrich.RedisOptions{Key: "u:{user_id}", Fields: []enrich.Field{{From: "country", Type: decode.String}}}, []string{`fields[0].as: column "country" already exists`}},
		{enrich.RedisOptions{Key: "u:{user_id}", Fields: []enrich.Field{{From: "a", Type: "decimal"}, {From: "b", As: "a", Type: decode.Int64, Default: &bad}}},
			[]string{`fields[0].type: unknown type "decimal"`, `fields[1].as: column "a" is also fields[0]`, `fields[1].default: "x" is not an int64`}},
		{enrich.RedisOptions{Key: "u:{user_id}", Fields: userFields, OnMiss: "ignore", Source: "list"}, []string{`on_miss: unknown policy "ignore"`, `source: unknown source "list"`}},
	}
	for _, c := range cases {
		_, err := enrich.NewRedisLookup(mem, schema, rdb, c.opts)
		if err == nil {
			t.Errorf("%+v: no error", c.opts)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not contain %q", c.opts, err, w)
			}
		}
	}
	if _, err := enrich.NewRedisLookup(mem, schema, rdb, enrich.RedisOptions{Key: "u:{user_id}", Fields: userFields}); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

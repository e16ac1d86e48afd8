package enrich_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
)

func TestLoadThenLookup(t *testing.T) {
	mem := checked(t)
	rdb, prefix := redisFor(t)
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("user_id,tier,score\n")
	for i := range 2500 {
		fmt.Fprintf(&csv, "u-%d,t%d,%d\n", i, i%3, i)
	}
	res, err := enrich.Load(ctx, rdb, writeFile(t, "users.csv", csv.String()), "user:{user_id}",
		enrich.LoadOptions{KeyPrefix: prefix, ChunkSize: 1000, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != 2500 || res.Fields != 7500 || res.RoundTrips != 3 {
		t.Errorf("load result %+v", res)
	}
	if got, _ := rdb.HGetAll(ctx, prefix+"user:u-2499").Result(); got["tier"] != "t0" || got["score"] != "2499" || got["user_id"] != "u-2499" {
		t.Errorf("hash %v", got)
	}
	if ttl := rdb.TTL(ctx, prefix+"user:u-7").Val(); ttl < 59*time.Minute {
		t.Errorf("TTL %v", ttl)
	}
	// JSON keyed by user: the member name fills {user_id}.
	res, err = enrich.Load(ctx, rdb, writeFile(t, "more.json", `{"u-9000":{"tier":"gold","score":1,"extra":{"a":1}}}`), "user:{user_id}",
		enrich.LoadOptions{KeyPrefix: prefix})
	if err != nil || res.Rows != 1 {
		t.Fatal(res, err)
	}
	if got := rdb.HGet(ctx, prefix+"user:u-9000", "extra").Val(); got != `{"a":1}` {
		t.Errorf("nested value stored as %q", got)
	}

	in := batchOf(t, mem, `{"event_id":"a","user_id":"u-42"}`, `{"event_id":"b","user_id":"u-9000"}`)
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, Fields: []enrich.Field{{From: "tier", Type: decode.String}, {From: "score", Type: decode.Int64}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	out, _, err := l.Process(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Record.Release()
	if got := col(t, out, "tier"); !slices.Equal(got, []string{"t0", "gold"}) {
		t.Errorf("tiers %v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	rdb, prefix := redisFor(t)
	ctx := context.Background()
	res, err := enrich.Load(ctx, rdb, writeFile(t, "u.csv", "user_id,tier\nu-1,a\nu-2,b\n,c\n"), "user:{user_id}",
		enrich.LoadOptions{KeyPrefix: prefix, ChunkSize: 2})
	if err == nil || !strings.Contains(err.Error(), `line 4: no "user_id" for the key`) || res.Rows != 2 {
		t.Errorf("Load with a row without key = %+v, %v; want 2 rows written and an error naming line 4", res, err)
	}
	if _, err := enrich.Load(ctx, rdb, "/nonexistent.csv", "user:{user_id}", enrich.LoadOptions{}); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	if _, err := enrich.Load(ctx, rdb, "x.csv", "user:{", enrich.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "key: unclosed {") {
		t.Errorf("bad template: %v", err)
	}
}

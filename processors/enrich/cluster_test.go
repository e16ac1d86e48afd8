package enrich_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
)

// Loading a table into the local Redis Cluster and looking it up: the
// keys spread over the three primaries (one per key, no hash tag), every
// row of a batch finds its own.
func TestLoadThenLookupOnCluster(t *testing.T) {
	mem := checked(t)
	rdb, prefix := testenv.Load(t).RedisCluster(t)
	ctx := context.Background()
	const users = 3000
	var csv strings.Builder
	csv.WriteString("user_id,tier,score\n")
	for i := range users {
		fmt.Fprintf(&csv, "u-%d,t%d,%d\n", i, i%3, i)
	}
	res, err := enrich.Load(ctx, rdb, writeFile(t, "users.csv", csv.String()), "user:{user_id}",
		enrich.LoadOptions{KeyPrefix: prefix, ChunkSize: 1000, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != users {
		t.Fatalf("loaded %d rows, want %d", res.Rows, users)
	}
	// The keys are on every primary, not one.
	perNode := map[string]int64{}
	for i := range users {
		slot, err := rdb.ClusterKeySlot(ctx, fmt.Sprintf("%suser:u-%d", prefix, i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		perNode[fmt.Sprint(slot*3/16384)]++
	}
	if len(perNode) != 3 {
		t.Fatalf("keys in %d thirds of the slot space, want 3: %v", len(perNode), perNode)
	}

	recs := make([]string, 0, 500)
	for i := 0; i < users; i += users / 500 {
		recs = append(recs, fmt.Sprintf(`{"event_id":"e%d","user_id":"u-%d"}`, i, i))
	}
	recs = append(recs, `{"event_id":"miss","user_id":"nobody"}`)
	in := batchOf(t, mem, recs...)
	l, err := enrich.NewRedisLookup(mem, in.Record.Schema(), rdb, enrich.RedisOptions{
		Key: "user:{user_id}", KeyPrefix: prefix, OnMiss: "null",
		Fields: []enrich.Field{{From: "tier", Type: decode.String}, {From: "score", Type: decode.Int64}},
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
	if len(dead) != 0 {
		t.Fatalf("%d dead letters: %v", len(dead), dead[0].Reason)
	}
	tiers, scores, ids := col(t, out, "tier"), col(t, out, "score"), col(t, out, "user_id")
	for i, id := range ids {
		if id == "nobody" {
			if tiers[i] != "(null)" {
				t.Errorf("miss: tier %q, want null", tiers[i])
			}
			continue
		}
		var n int
		fmt.Sscanf(id, "u-%d", &n)
		if tiers[i] != fmt.Sprintf("t%d", n%3) || scores[i] != fmt.Sprint(n) {
			t.Errorf("%s: tier %q score %q", id, tiers[i], scores[i])
		}
	}
}

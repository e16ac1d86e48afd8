package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// TestPipelineEnrichesDerivesAndFilters: rows are joined with a Redis
// lookup table, get a derived column, and rows of one country are filtered
// out; what arrives in S3 is exactly the expected rows with the right values.
func TestPipelineEnrichesDerivesAndFilters(t *testing.T) {
	const events = 1500
	s := newStack(t, 2)
	ctx := context.Background()
	rc, prefix := s.env.Redis(t)
	plan := func(user int) string { return []string{"free", "team", "pro"}[user%3] }
	want := map[string]workload.Event{}
	gen := workload.New(workload.Config{Seed: 8, Total: events})
	pipe := rc.Pipeline()
	for range events {
		e := gen.Next()
		if e.Country != "US" {
			want[e.ID()] = e
		}
		if e.UserID%7 != 0 { // every 7th user has no entry: on_miss default
			pipe.HSet(ctx, prefix+"user:u-"+strconv.Itoa(e.UserID), "plan", plan(e.UserID))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := produce.Put(ctx, s.env.Kinesis(t), workload.New(workload.Config{Seed: 8, Total: events}),
		produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	yaml := s.yaml("redis", "", fmt.Sprintf(`transforms:
  - redis_lookup:
      key: "user:{user_id}"
      key_prefix: "%s"
      fields: [{from: plan, type: string, default: unknown}]
      on_miss: default
  - derive: {name: price_cents, type: float64, expr: "price * 100"}
  - filter: {expr: 'country != "US"'}`, prefix))
	cfg, err := pipeline.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runPipeline(t, cfg, "enrich")
	res := s.waitDelivered(t, len(want), 60*time.Second)
	stop()
	if len(res.IDs) != len(want) || res.Rows != len(want) {
		t.Fatalf("delivered %d rows (%d distinct), want %d (the non-US events)", res.Rows, len(res.IDs), len(want))
	}
	checked := 0
	for _, o := range res.Objects {
		obj, err := s.env.S3(t).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.env.S3Bucket), Key: aws.String(o.Key)})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(obj.Body)
		obj.Body.Close()
		sc := bufio.NewScanner(&buf)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var row struct {
				EventID    string  `json:"event_id"`
				Plan       string  `json:"plan"`
				PriceCents float64 `json:"price_cents"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatal(err)
			}
			e, ok := want[row.EventID]
			if !ok {
				t.Fatalf("row %s should have been filtered out", row.EventID)
			}
			wantPlan := plan(e.UserID)
			if e.UserID%7 == 0 {
				wantPlan = "unknown"
			}
			if row.Plan != wantPlan || row.PriceCents != e.Price*100 {
				t.Fatalf("row %s: plan %q price_cents %v, want %q %v", row.EventID, row.Plan, row.PriceCents, wantPlan, e.Price*100)
			}
			checked++
		}
	}
	if checked != len(want) {
		t.Fatalf("checked %d rows, want %d", checked, len(want))
	}
}

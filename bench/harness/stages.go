package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
	"github.com/shardflow/shardflow/processors/transform"
	"github.com/shardflow/shardflow/processors/window"
	"github.com/shardflow/shardflow/sinks/encode"
)

// ClickFields is the reference click-event schema (as in examples/clicks.yaml).
var ClickFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: "user_id", Type: decode.String},
	{Name: "page", Type: decode.String},
	{Name: "country", Type: decode.String, Nullable: true},
	{Name: "ts", Type: decode.Timestamp},
	{Name: "price", Type: decode.Float64, Nullable: true},
	{Name: "user_agent", Type: decode.String, Nullable: true},
}

// Plan is the plan of user u-<i> in the lookup table: 5% enterprise, 25%
// pro, the rest free.
func Plan(i int) string {
	switch i % 20 {
	case 0:
		return "enterprise"
	case 1, 2, 3, 4, 5:
		return "pro"
	}
	return "free"
}

// planFields is what the enrich stages append.
var planFields = []enrich.Field{{From: "plan", Type: decode.String}}

// WritePlanTable writes the users' plans as CSV (user_id,plan) into dir
// and returns the file's path.
func WritePlanTable(dir string, users int) (string, error) {
	buf := []byte("user_id,plan\n")
	for i := range users {
		buf = append(buf, "u-"...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ',')
		buf = append(buf, Plan(i)...)
		buf = append(buf, '\n')
	}
	path := filepath.Join(dir, "plans.csv")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return "", fmt.Errorf("harness: plan table: %w", err)
	}
	return path, nil
}

// LoadPlans writes one hash <prefix>user:u-<i> {plan} per user.
func LoadPlans(ctx context.Context, rdb redis.UniversalClient, prefix string, users int) error {
	const chunk = 5000
	for lo := 0; lo < users; lo += chunk {
		pipe := rdb.Pipeline()
		for i := lo; i < min(lo+chunk, users); i++ {
			pipe.HSet(ctx, prefix+"user:u-"+strconv.Itoa(i), "plan", Plan(i))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("harness: load plans: %w", err)
		}
	}
	return nil
}

// StaticPlan joins each click with its user's plan from the CSV at file.
func StaticPlan(file string) StageFunc {
	return func(mem memory.Allocator, in *arrow.Schema) (transform.Transform, error) {
		return enrich.NewStaticTable(mem, in, enrich.StaticOptions{File: file, Key: "{user_id}", Fields: planFields})
	}
}

// RedisPlan joins each click with its user's plan from Redis hashes
// <prefix>user:<user_id>, through the lookup's cache (sized for every user).
func RedisPlan(rdb redis.UniversalClient, prefix string, cacheSize int) StageFunc {
	return func(mem memory.Allocator, in *arrow.Schema) (transform.Transform, error) {
		return enrich.NewRedisLookup(mem, in, rdb, enrich.RedisOptions{
			Key: "user:{user_id}", KeyPrefix: prefix, Fields: planFields, CacheSize: cacheSize,
		})
	}
}

// Exprs is a derive/filter stage.
func Exprs(steps ...transform.Step) StageFunc {
	return func(mem memory.Allocator, in *arrow.Schema) (transform.Transform, error) {
		return transform.NewExprs(mem, in, steps...)
	}
}

// NDJSON is a discarding output that encodes rows as the Firehose output's
// NDJSON.
func NDJSON(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
	enc, err := encode.NewNDJSON(in)
	if err != nil {
		return nil, err
	}
	return NewEncode(enc), nil
}

// CSV is a discarding output that encodes rows as the Firehose output's CSV.
func CSV(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
	enc, err := encode.NewCSV(in, encode.CSVOptions{})
	if err != nil {
		return nil, err
	}
	return NewEncode(enc), nil
}

// ReferenceWindow is the reference aggregation: 1-minute tumbling
// windows by (country, page) with count, sum(price) and approximate
// distinct users, its state in rdb under the key prefix "bench". It plugs
// in as an output (window operators are flow.Outputs); no emitter runs, so
// the figures are the per-record path (emission is per window, not per
// record).
func ReferenceWindow(rdb redis.UniversalClient) OutputFunc {
	return func(mem memory.Allocator, in *arrow.Schema) (flow.Output, error) {
		return window.New(ReferenceWindowOptions(rdb, mem, in))
	}
}

// WindowKeyPrefix prefixes the Redis keys of ReferenceWindow's state.
const WindowKeyPrefix = "bench"

// ReferenceWindowOptions are the options of ReferenceWindow's operator
// over input schema in.
func ReferenceWindowOptions(rdb redis.UniversalClient, mem memory.Allocator, in *arrow.Schema) window.Options {
	return window.Options{
		Pipeline: "bench", Name: "per_page", Schema: in, TimeColumn: "ts", Size: time.Minute,
		GroupBy: []string{"country", "page"}, MaxOutOfOrderness: 30 * time.Second,
		Aggregates: []window.Aggregate{
			{Name: "clicks", Func: window.Count},
			{Name: "revenue", Func: window.Sum, Column: "price"},
			{Name: "users", Func: window.CountDistinct, Column: "user_id"},
		},
		Redis: rdb, KeyPrefix: WindowKeyPrefix, DeadLetter: &DeadLetters{}, Allocator: mem,
	}
}

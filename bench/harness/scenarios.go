package harness

import (
	"context"
	"fmt"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// Users is the number of distinct users of the reference workload and of
// the plan lookup table.
const Users = 50_000

// Env holds what the scenarios need besides the dataset: the plan table
// file and, for the Redis scenarios, a Redis loaded with the plans.
type Env struct {
	PlanFile string
	Redis    *Redis // nil: Redis scenarios are skipped
}

// NewEnv writes the plan table into dir and, when withRedis, starts a
// private redis-server there and loads the plans into it. Close stops it.
func NewEnv(ctx context.Context, dir string, withRedis bool) (*Env, error) {
	file, err := WritePlanTable(dir, Users)
	if err != nil {
		return nil, err
	}
	env := &Env{PlanFile: file}
	if !withRedis {
		return env, nil
	}
	if env.Redis, err = StartRedis(ctx, dir); err != nil {
		return nil, err
	}
	if err := LoadPlans(ctx, env.Redis.Client, "", Users); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// ResetWindowState deletes the reference window's state (keys under
// WindowKeyPrefix) from the environment's Redis, so that the next path's
// window starts empty: a window skips records a shard of the same id
// already applied. The plans stay.
func (e *Env) ResetWindowState(ctx context.Context) error {
	if e.Redis == nil {
		return nil
	}
	iter := e.Redis.Client.Scan(ctx, 0, WindowKeyPrefix+":*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("harness: list window state: %w", err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := e.Redis.Client.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("harness: delete window state: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// Close stops the Redis the environment started.
func (e *Env) Close() error {
	if e.Redis == nil {
		return nil
	}
	return e.Redis.Close()
}

// Scenario is one processing path of the benchmark table.
type Scenario struct {
	Name  string
	Redis bool // needs Env.Redis
	Spec  func(env *Env) Spec
}

// DeriveNet is the derive of the scenarios that evaluate an expression over
// an enriched column.
var DeriveNet = transform.Derive{Name: "net", Type: decode.Float64, Expr: `plan == "enterprise" ? price * 0.8 : price`}

// FilterPaid keeps paid clicks from some countries.
var FilterPaid = transform.Filter{Expr: `price > 0 && country in ["US", "DE", "GB", "FR"]`}

// Scenarios are the paths the table and the benchmarks measure, from decode
// alone to the full path with both encoders.
func Scenarios() []Scenario {
	static := func(env *Env) StageFunc { return StaticPlan(env.PlanFile) }
	redisPlan := func(env *Env) StageFunc { return RedisPlan(env.Redis.Client, "", 2*Users) }
	return []Scenario{
		{Name: "decode", Spec: func(*Env) Spec { return Spec{Fields: ClickFields} }},
		{Name: "decode+static", Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{static(env)}}
		}},
		{Name: "decode+redis", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env)}}
		}},
		{Name: "decode+redis+derive", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env), Exprs(DeriveNet)}}
		}},
		{Name: "decode+redis+derive+filter", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env), Exprs(DeriveNet, FilterPaid)}}
		}},
		{Name: "decode+static+ndjson+csv", Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{static(env)}, Outputs: []OutputFunc{NDJSON, CSV}}
		}},
		{Name: "decode+redis+ndjson+csv", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env)}, Outputs: []OutputFunc{NDJSON, CSV}}
		}},
		{Name: "decode+redis+derive+ndjson+csv", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env), Exprs(DeriveNet)}, Outputs: []OutputFunc{NDJSON, CSV}}
		}},
		// The reference path of issue #8: decode → enrich → 1-minute window
		// by (country, page); window state in the private Redis.
		{Name: "decode+static+window", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{static(env)}, Outputs: []OutputFunc{ReferenceWindow(env.Redis.Client)}}
		}},
		{Name: "decode+redis+window", Redis: true, Spec: func(env *Env) Spec {
			return Spec{Fields: ClickFields, Stages: []StageFunc{redisPlan(env)}, Outputs: []OutputFunc{ReferenceWindow(env.Redis.Client)}}
		}},
	}
}

// Warm runs every batch of ds through p once (one shard), so that a Redis
// lookup's cache holds every user of ds before a measurement.
func Warm(ctx context.Context, p *Path, ds *Dataset) error {
	_, err := Run(ctx, p, ds, Load{Shards: 1})
	if err != nil {
		return fmt.Errorf("harness: warm: %w", err)
	}
	return nil
}

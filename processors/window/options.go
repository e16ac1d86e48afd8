package window

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// Func names an aggregate function.
type Func string

// The aggregate functions.
const (
	Count         Func = "count"          // rows (no column) or non-null values
	Sum           Func = "sum"            // int64 or float64 column
	Min           Func = "min"            // int64, float64, timestamp or string
	Max           Func = "max"            // int64, float64, timestamp or string
	Avg           Func = "avg"            // int64 or float64 column; float64 result
	CountDistinct Func = "count_distinct" // approximate (HyperLogLog, ~0.8 % standard error)
	First         Func = "first"          // value at the smallest event time
	Last          Func = "last"           // value at the largest event time
)

// Aggregate is one result column.
type Aggregate struct {
	// Name is the result column name.
	Name string `yaml:"name"`
	// Func is the aggregate function.
	Func Func `yaml:"fn"`
	// Column is the input column; empty only for count (count of rows).
	Column string `yaml:"column,omitempty"`
}

// LatePolicy says what happens to a late row: one whose window was already
// closed for emission.
type LatePolicy string

// The late-row policies. Every late row is counted (metrics.Hooks.LateRows).
const (
	LateDrop       LatePolicy = metrics.LateDrop       // count and drop
	LateDeadLetter LatePolicy = metrics.LateDeadLetter // count and send to the dead-letter output
	// LateUpdate applies a late row to its window's state and re-emits the
	// window's changed groups with the same row id and a higher revision
	// (result column "revision"); rows later than UpdateHorizon past
	// their window's close are dead-lettered.
	LateUpdate LatePolicy = metrics.LateUpdate
)

// Options configures an Operator and its Emitter.
type Options struct {
	// Pipeline and Name identify the operator: they prefix its Redis keys
	// and enter every result row id.
	Pipeline, Name string
	// Schema is the schema of the batches the operator receives.
	Schema *arrow.Schema
	// TimeColumn is the event-time column (a timestamp column).
	TimeColumn string
	// Size is the window length; Slide the distance between window starts
	// (0 or Size: tumbling windows; less than Size: hopping windows).
	Size, Slide time.Duration
	// Gap, instead of Size, makes session windows: a group's rows less
	// than Gap apart in event time form one session.
	Gap time.Duration
	// GroupBy lists the group-key columns (may be empty: one group).
	GroupBy []string
	// Aggregates lists the result columns.
	Aggregates []Aggregate
	// MaxOutOfOrderness is subtracted from a shard's largest event time to
	// make its watermark.
	MaxOutOfOrderness time.Duration
	// AllowedLateness keeps a window open for rows this much past its end
	// (in watermark time) before it is closed and emitted.
	AllowedLateness time.Duration
	// IdleTimeout leaves a shard out of the global watermark once its
	// reader is caught up (its owner's last read returned
	// MillisBehindLatest 0, less than IdleTimeout ago) and it has had no
	// rows for this long (wall time); a shard with a backlog, a stalled
	// reader or an owner that stopped refreshing its mark holds the
	// watermark (see globalWatermark). It is also how stale an owner's
	// mark may get before the shard counts as ownerless. Default 1m.
	IdleTimeout time.Duration
	// LateRows is the late-row policy (default dead_letter).
	LateRows LatePolicy
	// UpdateHorizon (late_rows update) is how long, in watermark time
	// past a window's close, late rows still update it; its state is kept
	// that long. Default 1h.
	UpdateHorizon time.Duration
	// FlushInterval bounds how long rows wait in memory before they are
	// applied to Redis (and so how long their checkpoint waits). Default 1s.
	FlushInterval time.Duration
	// FlushRows flushes a shard early once it holds this many rows.
	// Default 100,000.
	FlushRows int
	// FlushBatches flushes a shard early once it holds this many batches
	// (default 4). Set it below the consumer's batches in flight per shard
	// (the pipeline uses half of source.max_in_flight_batches), or a shard
	// waits for the flush timer before it may read on.
	FlushBatches int
	// Redis holds the window state; KeyPrefix namespaces the keys.
	Redis     redis.UniversalClient
	KeyPrefix string
	// DeadLetter receives late rows (policy dead_letter) and rows without
	// an event time.
	DeadLetter flow.DeadLetterOutput
	Hooks      metrics.Hooks
	Logger     *slog.Logger
	Allocator  memory.Allocator
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// withDefaults returns o with defaults applied.
func (o Options) withDefaults() Options {
	if o.Slide == 0 && o.Gap == 0 {
		o.Slide = o.Size
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = time.Minute
	}
	if o.LateRows == "" {
		o.LateRows = LateDeadLetter
	}
	if o.LateRows == LateUpdate && o.UpdateHorizon == 0 {
		o.UpdateHorizon = time.Hour
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.FlushRows == 0 {
		o.FlushRows = 100_000
	}
	if o.FlushBatches <= 0 {
		o.FlushBatches = 4
	}
	o.Hooks = metrics.OrNop(o.Hooks)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Validate checks the options that do not depend on the schema.
func (o Options) Validate() error {
	var errs []error
	if o.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if o.TimeColumn == "" {
		errs = append(errs, errors.New("time_column is required"))
	}
	switch {
	case o.Gap < 0:
		errs = append(errs, errors.New("gap must be positive"))
	case o.Gap > 0 && (o.Size != 0 || o.Slide != 0):
		errs = append(errs, errors.New("set a size (tumbling/hopping) or a gap (session), not both"))
	case o.Gap > 0:
		if o.Gap%time.Microsecond != 0 {
			errs = append(errs, errors.New("gap must be whole microseconds"))
		}
	case o.Size <= 0:
		errs = append(errs, errors.New("size (or a session gap) must be positive"))
	default:
		if o.Slide < 0 || o.Slide > o.Size {
			errs = append(errs, errors.New("slide must be positive and at most size"))
		}
		if o.Slide > 0 && o.Size%o.Slide != 0 {
			errs = append(errs, fmt.Errorf("size %s must be a multiple of slide %s", o.Size, o.Slide))
		}
		if o.Size%time.Microsecond != 0 || o.Slide%time.Microsecond != 0 {
			errs = append(errs, errors.New("size and slide must be whole microseconds"))
		}
	}
	if o.MaxOutOfOrderness < 0 || o.AllowedLateness < 0 || o.IdleTimeout < 0 {
		errs = append(errs, errors.New("max_out_of_orderness, allowed_lateness and idle_timeout must not be negative"))
	}
	switch o.LateRows {
	case "", LateDrop, LateDeadLetter:
	case LateUpdate:
		if o.Gap > 0 {
			errs = append(errs, errors.New("late_rows update is for tumbling and hopping windows (a late row of a session window starts a new session)"))
		}
	default:
		errs = append(errs, fmt.Errorf("late_rows %q: want drop, dead_letter or update", o.LateRows))
	}
	if o.UpdateHorizon < 0 {
		errs = append(errs, errors.New("update_horizon must not be negative"))
	}
	if len(o.Aggregates) == 0 {
		errs = append(errs, errors.New("aggregates: at least one is required"))
	}
	seen := map[string]bool{"window_start": true, "window_end": true, "row_id": true, "revision": true}
	for _, g := range o.GroupBy {
		seen[g] = true
	}
	for i, a := range o.Aggregates {
		if a.Name == "" {
			errs = append(errs, fmt.Errorf("aggregates[%d].name is required", i))
		} else if seen[a.Name] {
			errs = append(errs, fmt.Errorf("aggregates[%d].name %q is used twice (or clashes with a group or window column)", i, a.Name))
		}
		seen[a.Name] = true
		switch a.Func {
		case Count:
		case Sum, Min, Max, Avg, CountDistinct, First, Last:
			if a.Column == "" {
				errs = append(errs, fmt.Errorf("aggregates[%d]: %s needs a column", i, a.Func))
			}
		default:
			errs = append(errs, fmt.Errorf("aggregates[%d].fn %q: want count, sum, min, max, avg, count_distinct, first or last", i, a.Func))
		}
	}
	return errors.Join(errs...)
}

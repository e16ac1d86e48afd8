package window

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/shardflow/shardflow/internal/suggest"
)

// Problem is one problem with an operator's options, found without Redis
// or any I/O. Key names the option: "name", "time_column", "size",
// "slide", "gap", "group_by[1]", "aggregates[0].column", "late_rows",
// "max_out_of_orderness", "allowed_lateness", "idle_timeout",
// "update_horizon", "flush_interval", "aggregates".
type Problem struct {
	Key, Msg string
}

// Plan checks o (its runtime parts — Redis, dead-letter output, hooks,
// clock — are not needed) against o.Schema, the schema of the rows the
// operator receives, and returns the schema of its result rows (best
// effort when there are problems: the columns that resolve). Every problem
// is reported. What it accepts, New accepts given a Redis client.
func Plan(opts Options) (*arrow.Schema, []Problem) {
	o := opts.withDefaults()
	var problems []Problem
	bad := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	in := o.Schema
	if in == nil {
		in = arrow.NewSchema(nil, nil)
	}
	cols := make([]string, in.NumFields())
	for i, f := range in.Fields() {
		cols[i] = f.Name
	}
	if o.Name == "" {
		bad("name", "is required")
	}

	// Event time.
	switch idx := in.FieldIndices(o.TimeColumn); {
	case o.TimeColumn == "":
		bad("time_column", "is required: the timestamp column that gives each row its event time")
	case len(idx) != 1:
		bad("time_column", "column %q is not in the schema%s", o.TimeColumn, suggestColumn(o.TimeColumn, cols, in, timestampOnly))
	case in.Field(idx[0]).Type.ID() != arrow.TIMESTAMP:
		bad("time_column", "column %q is %s, want a timestamp column%s", o.TimeColumn, typeName(in.Field(idx[0]).Type), timestampsOf(in))
	}

	// Window shape.
	switch {
	case o.Gap < 0:
		bad("gap", "must be positive, got %s", o.Gap)
	case o.Gap > 0 && (o.Size != 0 || opts.Slide != 0):
		bad("gap", "set a size (tumbling/hopping) or a gap (session), not both")
	case o.Gap > 0:
		if o.Gap%time.Microsecond != 0 {
			bad("gap", "must be whole microseconds, got %s", o.Gap)
		}
	case o.Size <= 0:
		bad("size", "must be positive, got %s", o.Size)
	default:
		if o.Slide <= 0 || o.Slide > o.Size {
			bad("slide", "must be positive and at most the size %s, got %s", o.Size, o.Slide)
		} else if o.Size%o.Slide != 0 {
			bad("slide", "the size %s must be a multiple of the slide %s (e.g. %s)", o.Size, o.Slide, slideHint(o.Size, o.Slide))
		}
		if o.Size%time.Microsecond != 0 {
			bad("size", "must be whole microseconds, got %s", o.Size)
		}
		if o.Slide%time.Microsecond != 0 {
			bad("slide", "must be whole microseconds, got %s", o.Slide)
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"max_out_of_orderness", o.MaxOutOfOrderness}, {"allowed_lateness", o.AllowedLateness}, {"idle_timeout", o.IdleTimeout},
		{"update_horizon", o.UpdateHorizon}, {"flush_interval", o.FlushInterval}} {
		if d.d < 0 {
			bad(d.key, "must not be negative, got %s", d.d)
		}
	}
	switch o.LateRows {
	case LateDrop, LateDeadLetter:
	case LateUpdate:
		if o.Gap > 0 {
			bad("late_rows", "update is for tumbling and hopping windows (a late row of a session window starts a new session); use drop or dead_letter")
		}
	default:
		bad("late_rows", "%q: want drop, dead_letter or update%s", o.LateRows,
			suggest.DidYouMean(string(o.LateRows), []string{string(LateDrop), string(LateDeadLetter), string(LateUpdate)}))
	}

	// Group keys.
	var groupCols []int
	seenGroup := map[string]int{}
	for i, g := range o.GroupBy {
		key := fmt.Sprintf("group_by[%d]", i)
		if j, dup := seenGroup[g]; dup {
			bad(key, "column %q is also group_by[%d]", g, j)
			continue
		}
		seenGroup[g] = i
		idx := in.FieldIndices(g)
		if len(idx) != 1 {
			bad(key, "column %q is not in the schema%s", g, suggestColumn(g, cols, in, nil))
			continue
		}
		if _, err := kindOf(in.Field(idx[0]).Type); err != nil {
			bad(key, "column %q: %v", g, err)
			continue
		}
		groupCols = append(groupCols, idx[0])
	}

	// Aggregates.
	if len(o.Aggregates) == 0 {
		bad("aggregates", "at least one is required, e.g. {name: rows, fn: count}")
	}
	reserved := map[string]string{"window_start": "a window column", "window_end": "a window column", "row_id": "the row id column", "revision": "the revision column"}
	for _, g := range o.GroupBy {
		reserved[g] = "a group_by column"
	}
	var plans []aggPlan
	for i, a := range o.Aggregates {
		key := fmt.Sprintf("aggregates[%d]", i)
		ok := true
		if a.Name == "" {
			bad(key+".name", "is required: the name of the result column")
			ok = false
		} else if what, clash := reserved[a.Name]; clash {
			bad(key+".name", "%q is already %s; choose another name", a.Name, what)
			ok = false
		} else {
			reserved[a.Name] = fmt.Sprintf("the name of %s", key)
		}
		fns := []string{string(Count), string(Sum), string(Min), string(Max), string(Avg), string(CountDistinct), string(First), string(Last)}
		switch a.Func {
		case Count:
		case Sum, Min, Max, Avg, CountDistinct, First, Last:
			if a.Column == "" {
				bad(key+".column", "is required by %s", a.Func)
				ok = false
			}
		case "":
			bad(key+".fn", "is required: one of %s", strings.Join(fns, ", "))
			ok = false
		default:
			bad(key+".fn", "%q: want %s%s", a.Func, strings.Join(fns, ", "), suggest.DidYouMean(string(a.Func), fns))
			ok = false
		}
		if !ok {
			continue
		}
		if a.Column != "" {
			idx := in.FieldIndices(a.Column)
			if len(idx) != 1 {
				bad(key+".column", "column %q is not in the schema%s", a.Column, suggestColumn(a.Column, cols, in, nil))
				continue
			}
			dt := in.Field(idx[0]).Type
			numeric := dt.ID() == arrow.INT64 || dt.ID() == arrow.FLOAT64
			switch {
			case (a.Func == Sum || a.Func == Avg) && !numeric:
				bad(key+".column", "%s needs an int64 or float64 column; %q is %s%s", a.Func, a.Column, typeName(dt), numericHint(a.Func))
				continue
			case (a.Func == Min || a.Func == Max) && dt.ID() == arrow.BOOL:
				bad(key+".column", "%s of a bool column is not supported; %q is bool (count it, or derive an int64 column first)", a.Func, a.Column)
				continue
			}
			if _, err := kindOf(dt); err != nil {
				bad(key+".column", "column %q: %v", a.Column, err)
				continue
			}
		}
		p, err := compileAggregate(in, a) // the operator's own check
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		plans = append(plans, p)
	}
	if len(problems) == 0 {
		// What New runs first: it can only disagree if the checks above
		// missed something, and then says so.
		if err := o.Validate(); err != nil {
			bad("", "%v", err)
		}
	}
	return resultSchema(in, groupCols, plans, o.LateRows == LateUpdate), problems
}

var timestampOnly = func(t arrow.DataType) bool { return t.ID() == arrow.TIMESTAMP }

// suggestColumn is a did-you-mean among the schema's columns (of the types
// keep accepts, when not nil), or the list of columns when none is close.
func suggestColumn(name string, cols []string, in *arrow.Schema, keep func(arrow.DataType) bool) string {
	var cands []string
	for i, c := range cols {
		if keep == nil || keep(in.Field(i).Type) {
			cands = append(cands, c)
		}
	}
	if s := suggest.DidYouMean(name, cands); s != "" {
		return s
	}
	if len(cands) == 0 {
		return ""
	}
	return "; the columns here are " + strings.Join(cands, ", ")
}

func timestampsOf(in *arrow.Schema) string {
	var ts []string
	for _, f := range in.Fields() {
		if f.Type.ID() == arrow.TIMESTAMP {
			ts = append(ts, f.Name)
		}
	}
	if len(ts) == 0 {
		return " (the schema has none: declare one with type: timestamp)"
	}
	return " (timestamp columns: " + strings.Join(ts, ", ") + ")"
}

func numericHint(fn Func) string {
	if fn == Sum {
		return " (to count rows use fn: count; distinct values: count_distinct)"
	}
	return ""
}

// typeName is the config's name of an Arrow type (string, int64, ...).
func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "string"
	case arrow.INT64:
		return "int64"
	case arrow.FLOAT64:
		return "float64"
	case arrow.BOOL:
		return "bool"
	case arrow.TIMESTAMP:
		return "timestamp"
	}
	return t.String()
}

// slideHint names a slide near the given one that divides size.
func slideHint(size, slide time.Duration) string {
	for d := slide; d > 0; d -= time.Second {
		if size%d == 0 && d%time.Second == 0 {
			return "slide " + d.String()
		}
	}
	return "a slide that divides the size"
}

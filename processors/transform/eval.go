package transform

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/expr-lang/expr/vm"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// evaluator is the scratch of one Process call. The environment is one map
// reused for every row: expr reads a map[string]any environment with a
// plain map lookup (OpLoadFast), where a struct environment would go through
// reflection, and only the columns some expression reads are set.
type evaluator struct {
	vm      vm.VM
	env     map[string]any
	asm     *Assembler
	results []Value
	kept    []int
	cols    []arrow.Array
}

// Process evaluates the steps over every row of in. See the package
// documentation for the contract.
func (e *Exprs) Process(ctx context.Context, in *flow.Batch) (*flow.Batch, []flow.DeadLetter, error) {
	if err := CheckSchema("transform: exprs", e.in, in.Record.Schema()); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("transform: exprs: %w", err)
	}
	ev := e.pool.Get()
	defer e.pool.Put(ev)
	ev.cols = ev.cols[:0]
	for _, c := range e.inputs {
		ev.cols = append(ev.cols, in.Record.Column(c.col))
	}
	n := in.Rows()
	ev.asm.Reserve(n)
	ev.kept = ev.kept[:0]
	var dead []flow.DeadLetter
	for row := range n {
		keep, why := e.evalRow(ev, row)
		if why != "" {
			dead = append(dead, DeadLetter(in, row, why))
		}
		if !keep {
			continue
		}
		for d := range ev.results {
			AppendValue(ev.asm.Appended(d), &ev.results[d])
		}
		ev.kept = append(ev.kept, row)
	}
	clear(ev.env) // do not keep strings that point into in's buffers
	clear(ev.cols)
	return ev.asm.Finish(in, Selection(ev.kept, n)), dead, nil
}

// evalRow runs the steps over row. It reports whether the row is kept and,
// when it must be dead-lettered, why. A step with a fast form whose columns
// are all non-null in row is evaluated typed, without the VM; the VM's
// environment is filled (boxing each column's value) only for the first step
// of the row that needs it.
func (e *Exprs) evalRow(ev *evaluator, row int) (keep bool, why string) {
	envSet := false
	for i := range e.steps {
		s := &e.steps[i]
		if f := s.fast; f != nil && f.ready(ev, row) {
			if s.derive < 0 {
				if !f.bool(ev, row) {
					return false, ""
				}
				continue
			}
			v := &ev.results[s.derive]
			f.value(ev, row, s.typ, v)
			if s.read {
				ev.env[s.label] = goValue(v, s.typ)
			}
			continue
		}
		if !envSet {
			for i := range e.inputs {
				ev.env[e.inputs[i].name] = columnValue(ev.cols[i], e.inputs[i].kind, row)
			}
			envSet = true
		}
		out, err := ev.vm.Run(s.prog, ev.env)
		if err != nil {
			return false, "expr_error: " + s.label + ": " + firstLine(err.Error())
		}
		if s.derive < 0 {
			b, ok := out.(bool)
			if !ok && out != nil {
				return false, fmt.Sprintf("expr_error: %s: result is %T, want bool", s.label, out)
			}
			if !b {
				return false, ""
			}
			continue
		}
		v := &ev.results[s.derive]
		if msg := convertResult(out, s.typ, v); msg != "" {
			return false, "expr_error: " + s.label + ": " + msg
		}
		if s.read {
			ev.env[s.label] = goValue(v, s.typ)
		}
	}
	return true, ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// columnValue is row's value of col as an expression sees it.
func columnValue(col arrow.Array, kind decode.FieldType, row int) any {
	if col.IsNull(row) {
		return nil
	}
	switch kind {
	case decode.String:
		return col.(*array.String).Value(row)
	case decode.Int64:
		return col.(*array.Int64).Value(row)
	case decode.Float64:
		return col.(*array.Float64).Value(row)
	case decode.Bool:
		return col.(*array.Boolean).Value(row)
	case decode.Timestamp:
		c := col.(*array.Timestamp)
		return c.Value(row).ToTime(c.DataType().(*arrow.TimestampType).Unit)
	}
	return nil
}

// goValue is the Go value later expressions see for a derived value, of the
// type they were checked against.
func goValue(v *Value, typ decode.FieldType) any {
	if !v.Valid {
		return nil
	}
	switch typ {
	case decode.String:
		return v.Str
	case decode.Int64:
		return v.Int
	case decode.Float64:
		return v.Float
	case decode.Bool:
		return v.Bool
	}
	return time.UnixMicro(v.Int).UTC()
}

// Timestamps outside the years 0001-9999 cannot be written as RFC 3339, so
// decode rejects them and so do derives.
var (
	minMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxMicros = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() - 1
)

// convertResult stores an expression's result as a value of typ, or returns
// why it cannot.
func convertResult(out any, typ decode.FieldType, v *Value) string {
	*v = Value{Valid: out != nil}
	if out == nil {
		return ""
	}
	ok := true
	switch typ {
	case decode.String:
		v.Str, ok = out.(string)
	case decode.Bool:
		v.Bool, ok = out.(bool)
	case decode.Int64:
		v.Int, ok = asInt64(out)
	case decode.Float64:
		if f, isFloat := out.(float64); isFloat {
			v.Float = f
		} else if f32, isF32 := out.(float32); isF32 {
			v.Float = float64(f32)
		} else {
			var i int64
			i, ok = asInt64(out)
			v.Float = float64(i)
		}
	case decode.Timestamp:
		var t time.Time
		if t, ok = out.(time.Time); ok {
			v.Int = t.UnixMicro() // floors, as decode does
			if v.Int < minMicros || v.Int > maxMicros {
				return fmt.Sprintf("timestamp %v is outside the years 0001-9999", t)
			}
		}
	}
	if !ok {
		return fmt.Sprintf("result is %T, want %s", out, typ)
	}
	return ""
}

func asInt64(x any) (int64, bool) {
	switch x := x.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

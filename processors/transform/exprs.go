package transform

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/shardflow/shardflow/processors/decode"
)

// Step is one expression stage: a Derive or a Filter.
type Step interface{ isStep() }

// Derive appends column Name of type Type, the value of Expr for each row.
// A nil result is a null.
type Derive struct {
	Name string           `yaml:"name"`
	Type decode.FieldType `yaml:"type"`
	Expr string           `yaml:"expr"`
}

// Filter keeps the rows for which Expr is true; false and nil drop the row.
type Filter struct {
	Expr string `yaml:"expr"`
}

func (Derive) isStep() {}
func (Filter) isStep() {}

// Exprs runs a list of Derive and Filter steps over each row, in order, in
// one pass: a step sees the input's columns and the columns derived by the
// steps before it, and a row a filter drops is not evaluated further.
//
// Expressions are github.com/expr-lang/expr programs, compiled and type
// checked once by NewExprs. A column is a variable of its Go type (string,
// int64, float64, bool, time.Time in UTC), or nil when null. Nulls are not
// propagated silently: `price * 1.2` with a null price is a runtime error,
// and so the row's dead letter; write `price ?? 0`, `price != nil && price
// > 0` or `price == nil ? nil : price * 1.2` to say what a null means. Any
// runtime error sends the row to dead-letter with reason
// "expr_error: <derive name or filter[i]>: <message>"; nothing panics.
//
// Expressions made only of input columns, literals, comparisons, `in` a
// list of strings, + - * /, && || ! and ?: are also compiled to a typed
// form that reads the Arrow columns directly, without boxing each value
// into an interface as the VM must; a row whose read columns are all
// non-null uses it, any other row the VM (fast.go says why the two agree).
type Exprs struct {
	in, out *arrow.Schema
	steps   []step
	inputs  []input // input columns some step reads
	derives int
	pool    Pool[*evaluator]
}

type step struct {
	prog   *vm.Program
	label  string           // derive name, or filter[i]
	derive int              // index among derives, -1 for a filter
	typ    decode.FieldType // a derive's type
	// read says a later step reads this derive's value.
	read bool
	// src is the expression; fast, when not nil, its typed form (fast.go).
	src  string
	fast *fast
}

// input is one column of the input batch that expressions read.
type input struct {
	name string
	col  int
	kind decode.FieldType
}

// sampleValue types each column for the expression checker. A nullable
// column is declared as a pointer type although rows hold plain values or
// nil: the checker still knows its type (so `price * "x"` fails at compile
// time), but the compiler then emits the generic operations, which treat
// nil as a value (`country == "DE"` is false for a null country), instead
// of the ones specialised for a non-nil string or number, which fail on nil.
var sampleValue = map[decode.FieldType]any{
	decode.String: "", decode.Int64: int64(0), decode.Float64: float64(0),
	decode.Bool: false, decode.Timestamp: time.Time{},
}

var nullableSample = map[decode.FieldType]any{
	decode.String: (*string)(nil), decode.Int64: (*int64)(nil), decode.Float64: (*float64)(nil),
	decode.Bool: (*bool)(nil), decode.Timestamp: (*time.Time)(nil),
}

func sample(k decode.FieldType, nullable bool) any {
	if nullable {
		return nullableSample[k]
	}
	return sampleValue[k]
}

// NewExprs compiles steps against the input schema in. Errors name the step
// as "steps[i].<key>" and are all reported, joined.
func NewExprs(mem memory.Allocator, in *arrow.Schema, steps ...Step) (*Exprs, error) {
	e := &Exprs{in: in}
	env := make(map[string]any, in.NumFields()+len(steps))
	colIndex := make(map[string]int, in.NumFields())
	for i, f := range in.Fields() {
		if k, ok := fieldKind(f.Type); ok {
			env[f.Name] = sample(k, f.Nullable)
			colIndex[f.Name] = i
		}
	}
	var errs []error
	bad := func(i int, key string, err error) {
		errs = append(errs, fmt.Errorf("steps[%d].%s: %w", i, key, err))
	}
	var derived []arrow.Field
	reads := map[string]bool{}
	derivedAt := map[string]int{} // derive name -> step index
	for i, s := range steps {
		var src string
		st := step{derive: -1}
		switch s := s.(type) {
		case Derive:
			src, st.label, st.typ = s.Expr, s.Name, s.Type
			dt, err := ArrowType(s.Type)
			if err != nil {
				bad(i, "type", err)
			}
			if s.Name == "" {
				bad(i, "name", errors.New("must not be empty"))
			} else if in.HasField(s.Name) || derivedAt[s.Name] > 0 {
				bad(i, "name", fmt.Errorf("column %q already exists", s.Name))
			}
			if err == nil && s.Name != "" {
				st.derive = len(derived)
				derived = append(derived, arrow.Field{Name: s.Name, Type: dt, Nullable: true})
			}
		case Filter:
			src, st.label = s.Expr, fmt.Sprintf("filter[%d]", i)
		default:
			bad(i, "kind", fmt.Errorf("%T is neither a Derive nor a Filter", s))
			continue
		}
		prog, err := expr.Compile(src, expr.Env(env))
		if err == nil {
			err = checkResult(prog.Node().Type(), st)
		}
		if err != nil {
			bad(i, "expr", err)
		} else {
			st.prog, st.src = prog, src
			for name := range identifiers(prog.Node()) {
				reads[name] = true
				if j, ok := derivedAt[name]; ok {
					e.steps[j-1].read = true
				}
			}
		}
		if st.derive >= 0 {
			env[st.label] = sample(st.typ, true)
			derivedAt[st.label] = len(e.steps) + 1
		}
		e.steps = append(e.steps, st)
	}
	if len(steps) == 0 {
		errs = append(errs, errors.New("steps: at least one step is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("transform: %w", errors.Join(errs...))
	}
	for i, f := range in.Fields() {
		if _, ok := colIndex[f.Name]; ok && (reads[f.Name] || reads["$env"]) {
			k, _ := fieldKind(f.Type)
			e.inputs = append(e.inputs, input{name: f.Name, col: i, kind: k})
		}
	}
	for i := range e.steps {
		e.steps[i].fast = compileFast(e.steps[i].src, env, e.inputs, e.steps[i])
	}
	out, err := AppendSchema(in, derived...)
	if err != nil {
		return nil, err
	}
	e.out, e.derives = out, len(derived)
	e.pool = Pool[*evaluator]{
		New: func() *evaluator {
			return &evaluator{
				asm:     NewAssembler(mem, out, in.NumFields()),
				env:     make(map[string]any, len(e.inputs)+len(derived)),
				results: make([]Value, len(derived)),
			}
		},
		Free: func(ev *evaluator) { ev.asm.Release() },
	}
	return e, nil
}

// Schema returns the schema of the batches Process returns: the input's
// columns followed by the derived ones (all nullable).
func (e *Exprs) Schema() *arrow.Schema { return e.out }

// Close frees the pooled builders.
func (e *Exprs) Close(context.Context) error {
	e.pool.Close()
	return nil
}

// fieldKind maps the Arrow types expressions can read to declared types.
func fieldKind(t arrow.DataType) (decode.FieldType, bool) {
	switch t.ID() {
	case arrow.STRING:
		return decode.String, true
	case arrow.INT64:
		return decode.Int64, true
	case arrow.FLOAT64:
		return decode.Float64, true
	case arrow.BOOL:
		return decode.Bool, true
	case arrow.TIMESTAMP:
		return decode.Timestamp, true
	}
	return "", false
}

// identifiers returns the names an expression reads.
func identifiers(root ast.Node) map[string]bool {
	v := identVisitor{}
	ast.Walk(&root, v)
	return v
}

type identVisitor map[string]bool

func (v identVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		v[id.Value] = true
	}
}

var timeType = reflect.TypeFor[time.Time]()

// checkResult rejects at compile time a result type that can never convert
// to the step's type. An interface type (from ?? or a conditional with nil)
// is checked per row instead.
func checkResult(t reflect.Type, st step) error {
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if t.Kind() == reflect.Pointer { // a nullable column (see sampleValue)
		t = t.Elem()
	}
	ok := false
	want := string(st.typ)
	switch {
	case st.derive < 0:
		ok, want = t.Kind() == reflect.Bool, "bool"
	case st.typ == decode.Float64:
		ok = isInt(t.Kind()) || t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32
	case st.typ == decode.Int64:
		ok = isInt(t.Kind())
	case st.typ == decode.String:
		ok = t.Kind() == reflect.String
	case st.typ == decode.Bool:
		ok = t.Kind() == reflect.Bool
	case st.typ == decode.Timestamp:
		ok = t == timeType
	}
	if !ok {
		return fmt.Errorf("expression is of type %v, want %s", t, want)
	}
	return nil
}

func isInt(k reflect.Kind) bool {
	return (k >= reflect.Int && k <= reflect.Int64) || (k >= reflect.Uint && k <= reflect.Uint64)
}

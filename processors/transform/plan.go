package transform

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"

	"github.com/shardflow/shardflow/internal/suggest"
)

// Problem is one problem with a step's options, found without running
// anything. Key names the option as the pipeline config does ("expr",
// "name", "type"); Column, when not 0, is the 1-based column inside Expr
// where an expression error was found.
type Problem struct {
	Key    string
	Msg    string
	Column int
}

// PlanStep checks one Derive or Filter against the schema of the rows it
// receives, exactly as NewExprs would compile it, and returns the schema of
// the rows after it: in itself for a Filter, in plus the derived column
// (nullable) for a Derive. A Derive with a valid name and type still
// appends its column when its expression is wrong, so that later stages
// can be checked too.
//
// Consecutive steps checked one by one on each other's output schemas
// accept exactly what NewExprs accepts for them together: a step sees the
// input's columns and the columns derived before it, as nullable values.
func PlanStep(in *arrow.Schema, s Step) (*arrow.Schema, []Problem) {
	var problems []Problem
	bad := func(key, format string, args ...any) {
		problems = append(problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	env := make(map[string]any, in.NumFields())
	for _, f := range in.Fields() {
		if k, ok := fieldKind(f.Type); ok {
			env[f.Name] = sample(k, f.Nullable)
		}
	}
	out := in
	st := step{derive: -1}
	var src string
	switch s := s.(type) {
	case Derive:
		src, st.label, st.typ = s.Expr, s.Name, s.Type
		dt, err := ArrowType(s.Type)
		if err != nil {
			bad("type", "%v", err)
		}
		nameOK := false
		switch {
		case s.Name == "":
			bad("name", "must not be empty")
		case in.HasField(s.Name):
			bad("name", "column %q already exists; choose another name", s.Name)
		default:
			nameOK = true
		}
		if err == nil && nameOK {
			st.derive = 0
			out, _ = AppendSchema(in, arrow.Field{Name: s.Name, Type: dt, Nullable: true})
		}
	case Filter:
		src, st.label = s.Expr, "filter"
	default:
		bad("", "%T is neither a Derive nor a Filter", s)
		return in, problems
	}
	if strings.TrimSpace(src) == "" {
		bad("expr", "must not be empty")
		return out, problems
	}
	prog, err := expr.Compile(src, expr.Env(env))
	if err == nil {
		if _, isFilter := s.(Filter); isFilter || st.derive >= 0 {
			err = checkResult(prog.Node().Type(), st)
		}
	}
	if err != nil {
		problems = append(problems, exprProblem(src, err, env))
		return out, problems
	}
	if len(problems) == 0 {
		// The same compilation NewExprs does, so that the two cannot
		// disagree.
		if _, err := NewExprs(memory.DefaultAllocator, in, s); err != nil {
			bad("expr", "%v", err)
		}
	}
	return out, problems
}

// exprProblem turns a compile error into a message for the config: the
// position inside the expression, and for an unknown name the columns it
// may have meant.
func exprProblem(src string, err error, env map[string]any) Problem {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return Problem{Key: "expr", Msg: err.Error()}
	}
	p := Problem{Key: "expr", Column: fe.Column + 1}
	msg := fe.Message
	switch {
	case strings.HasPrefix(msg, "unknown name "):
		name := strings.TrimPrefix(msg, "unknown name ")
		cols := make([]string, 0, len(env))
		for c := range env {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		p.Msg = fmt.Sprintf("unknown name %q%s", name, suggest.DidYouMean(name, cols))
		if suggest.Closest(name, cols) == "" {
			p.Msg += "; the columns here are " + strings.Join(cols, ", ")
		}
		return p
	case msg == "unexpected token EOF":
		msg = "the expression ends too early"
	}
	if fe.Line <= 1 {
		p.Msg = fmt.Sprintf("%s at column %d of %q", msg, p.Column, src)
	} else {
		p.Msg = fmt.Sprintf("%s at line %d, column %d of the expression", msg, fe.Line, p.Column)
		p.Column = 0
	}
	return p
}

package transform

import (
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/shardflow/shardflow/processors/decode"
)

// A fast expression is a typed evaluation of a simple expression (columns,
// literals, comparisons, `in` a list of strings, arithmetic, && || !, ?:)
// straight from the Arrow columns, without boxing a value per column and
// per result as the expr VM must. It is used for a row only when every
// column it reads is non-null in that row: then the VM's generic operations
// compute the same thing in the same order (expr's runtime helpers convert
// mixed int/float operands to float64, divide in float64, compare strings
// bytewise), and neither can fail. Rows with a null, and expressions outside
// the subset, run on the VM, so behaviour, dead-letter reasons included, is
// unchanged.
type fast struct {
	kind fastKind
	num  func(ev *evaluator, row int) float64
	int  func(ev *evaluator, row int) int64
	str  func(ev *evaluator, row int) string
	bool func(ev *evaluator, row int) bool
	// reads are the indexes (into Exprs.inputs) of the columns read.
	reads []int
}

type fastKind uint8

const (
	fastNone fastKind = iota
	fastNum
	fastInt
	fastStr
	fastBool
)

// ready reports whether every column f reads is non-null in row.
func (f *fast) ready(ev *evaluator, row int) bool {
	for _, i := range f.reads {
		if ev.cols[i].IsNull(row) {
			return false
		}
	}
	return true
}

// value stores a derive's result as a value of typ; compileFast made sure
// the kinds fit.
func (f *fast) value(ev *evaluator, row int, typ decode.FieldType, v *Value) {
	*v = Value{Valid: true}
	switch f.kind {
	case fastNum:
		v.Float = f.num(ev, row)
	case fastInt:
		if typ == decode.Float64 {
			v.Float = float64(f.int(ev, row))
		} else {
			v.Int = f.int(ev, row)
		}
	case fastStr:
		v.Str = f.str(ev, row)
	case fastBool:
		v.Bool = f.bool(ev, row)
	}
}

// compileFast returns the fast form of src for a step, or nil when src is
// outside the subset, reads something other than input columns, or its
// result does not fit the step without a per-row conversion.
func compileFast(src string, env map[string]any, inputs []input, st step) *fast {
	if strconv.IntSize != 64 { // expr's int arithmetic is Go int
		return nil
	}
	prog, err := expr.Compile(src, expr.Env(env), expr.Optimize(false))
	if err != nil {
		return nil
	}
	c := fastCompiler{inputs: inputs, used: map[int]bool{}}
	f := c.node(prog.Node())
	if f == nil {
		return nil
	}
	switch {
	case st.derive < 0 && f.kind == fastBool:
	case st.derive >= 0 && st.typ == decode.Float64 && (f.kind == fastNum || f.kind == fastInt):
	case st.derive >= 0 && st.typ == decode.Int64 && f.kind == fastInt:
	case st.derive >= 0 && st.typ == decode.String && f.kind == fastStr:
	case st.derive >= 0 && st.typ == decode.Bool && f.kind == fastBool:
	default:
		return nil
	}
	for i := range inputs {
		if c.used[i] {
			f.reads = append(f.reads, i)
		}
	}
	return f
}

type fastCompiler struct {
	inputs []input
	used   map[int]bool
}

func (c *fastCompiler) node(n ast.Node) *fast {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return c.column(n.Value)
	case *ast.IntegerNode:
		v := int64(n.Value)
		return &fast{kind: fastInt, int: func(*evaluator, int) int64 { return v }}
	case *ast.FloatNode:
		v := n.Value
		return &fast{kind: fastNum, num: func(*evaluator, int) float64 { return v }}
	case *ast.StringNode:
		v := n.Value
		return &fast{kind: fastStr, str: func(*evaluator, int) string { return v }}
	case *ast.BoolNode:
		v := n.Value
		return &fast{kind: fastBool, bool: func(*evaluator, int) bool { return v }}
	case *ast.UnaryNode:
		return c.unary(n)
	case *ast.BinaryNode:
		return c.binary(n)
	case *ast.ConditionalNode:
		return c.conditional(n)
	}
	return nil
}

func (c *fastCompiler) column(name string) *fast {
	for i, in := range c.inputs {
		if in.name != name {
			continue
		}
		c.used[i] = true
		switch in.kind {
		case decode.String:
			return &fast{kind: fastStr, str: func(ev *evaluator, row int) string { return ev.cols[i].(*array.String).Value(row) }}
		case decode.Float64:
			return &fast{kind: fastNum, num: func(ev *evaluator, row int) float64 { return ev.cols[i].(*array.Float64).Value(row) }}
		case decode.Int64:
			return &fast{kind: fastInt, int: func(ev *evaluator, row int) int64 { return ev.cols[i].(*array.Int64).Value(row) }}
		case decode.Bool:
			return &fast{kind: fastBool, bool: func(ev *evaluator, row int) bool { return ev.cols[i].(*array.Boolean).Value(row) }}
		}
		return nil
	}
	return nil // a derived column or an unknown name
}

func (c *fastCompiler) unary(n *ast.UnaryNode) *fast {
	x := c.node(n.Node)
	if x == nil {
		return nil
	}
	switch {
	case (n.Operator == "!" || n.Operator == "not") && x.kind == fastBool:
		return &fast{kind: fastBool, bool: func(ev *evaluator, row int) bool { return !x.bool(ev, row) }}
	case n.Operator == "-" && x.kind == fastNum:
		return &fast{kind: fastNum, num: func(ev *evaluator, row int) float64 { return -x.num(ev, row) }}
	case n.Operator == "-" && x.kind == fastInt:
		return &fast{kind: fastInt, int: func(ev *evaluator, row int) int64 { return -x.int(ev, row) }}
	case n.Operator == "+" && (x.kind == fastNum || x.kind == fastInt):
		return x
	}
	return nil
}

// asNum reads a numeric operand as float64, as expr's helpers do for mixed
// int/float operands.
func asNum(x *fast) func(*evaluator, int) float64 {
	if x.kind == fastNum {
		return x.num
	}
	i := x.int
	return func(ev *evaluator, row int) float64 { return float64(i(ev, row)) }
}

func isNumeric(k fastKind) bool { return k == fastNum || k == fastInt }

func (c *fastCompiler) binary(n *ast.BinaryNode) *fast {
	op := n.Operator
	if op == "in" {
		return c.in(n)
	}
	l, r := c.node(n.Left), c.node(n.Right)
	if l == nil || r == nil {
		return nil
	}
	boolOut := func(f func(ev *evaluator, row int) bool) *fast { return &fast{kind: fastBool, bool: f} }
	switch {
	case (op == "&&" || op == "and") && l.kind == fastBool && r.kind == fastBool:
		a, b := l.bool, r.bool
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) && b(ev, row) })
	case (op == "||" || op == "or") && l.kind == fastBool && r.kind == fastBool:
		a, b := l.bool, r.bool
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) || b(ev, row) })
	case l.kind == fastStr && r.kind == fastStr:
		a, b := l.str, r.str
		switch op {
		case "==":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) == b(ev, row) })
		case "!=":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) != b(ev, row) })
		case "<":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) < b(ev, row) })
		case "<=":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) <= b(ev, row) })
		case ">":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) > b(ev, row) })
		case ">=":
			return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) >= b(ev, row) })
		}
	case l.kind == fastBool && r.kind == fastBool && (op == "==" || op == "!="):
		a, b, eq := l.bool, r.bool, op == "=="
		return boolOut(func(ev *evaluator, row int) bool { return (a(ev, row) == b(ev, row)) == eq })
	case l.kind == fastInt && r.kind == fastInt:
		return intBinary(op, l.int, r.int)
	case isNumeric(l.kind) && isNumeric(r.kind):
		return numBinary(op, asNum(l), asNum(r))
	}
	return nil
}

func intBinary(op string, a, b func(*evaluator, int) int64) *fast {
	if op == "/" { // int / int is a float in expr
		return &fast{kind: fastNum, num: func(ev *evaluator, row int) float64 { return float64(a(ev, row)) / float64(b(ev, row)) }}
	}
	return typedBinary(op, a, b, func(f func(ev *evaluator, row int) int64) *fast { return &fast{kind: fastInt, int: f} })
}

func numBinary(op string, a, b func(*evaluator, int) float64) *fast {
	return typedBinary(op, a, b, func(f func(ev *evaluator, row int) float64) *fast { return &fast{kind: fastNum, num: f} })
}

// typedBinary compiles a comparison or arithmetic operator over two operands
// of one Go type; out wraps an arithmetic result. The instantiations for
// int64 and float64 are separate code (different GC shapes), so the hot
// closures stay unboxed. It returns nil for operators left to the VM
// (% fails on 0, ** and the rest).
func typedBinary[T int64 | float64](op string, a, b func(*evaluator, int) T, out func(func(ev *evaluator, row int) T) *fast) *fast {
	boolOut := func(f func(ev *evaluator, row int) bool) *fast { return &fast{kind: fastBool, bool: f} }
	switch op {
	case "==":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) == b(ev, row) })
	case "!=":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) != b(ev, row) })
	case "<":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) < b(ev, row) })
	case "<=":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) <= b(ev, row) })
	case ">":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) > b(ev, row) })
	case ">=":
		return boolOut(func(ev *evaluator, row int) bool { return a(ev, row) >= b(ev, row) })
	case "+":
		return out(func(ev *evaluator, row int) T { return a(ev, row) + b(ev, row) })
	case "-":
		return out(func(ev *evaluator, row int) T { return a(ev, row) - b(ev, row) })
	case "*":
		return out(func(ev *evaluator, row int) T { return a(ev, row) * b(ev, row) })
	case "/":
		return out(func(ev *evaluator, row int) T { return a(ev, row) / b(ev, row) })
	}
	return nil
}

// in handles `<string> in [<string literal>, ...]`.
func (c *fastCompiler) in(n *ast.BinaryNode) *fast {
	arr, ok := n.Right.(*ast.ArrayNode)
	if !ok {
		return nil
	}
	set := make([]string, 0, len(arr.Nodes))
	for _, e := range arr.Nodes {
		s, ok := e.(*ast.StringNode)
		if !ok {
			return nil
		}
		set = append(set, s.Value)
	}
	l := c.node(n.Left)
	if l == nil || l.kind != fastStr {
		return nil
	}
	get := l.str
	return &fast{kind: fastBool, bool: func(ev *evaluator, row int) bool {
		v := get(ev, row)
		for _, s := range set {
			if v == s {
				return true
			}
		}
		return false
	}}
}

func (c *fastCompiler) conditional(n *ast.ConditionalNode) *fast {
	cond, a, b := c.node(n.Cond), c.node(n.Exp1), c.node(n.Exp2)
	if cond == nil || a == nil || b == nil || cond.kind != fastBool || a.kind != b.kind {
		return nil // mixed branch kinds are converted per row by the VM path
	}
	p := cond.bool
	switch a.kind {
	case fastNum:
		x, y := a.num, b.num
		return &fast{kind: fastNum, num: func(ev *evaluator, row int) float64 {
			if p(ev, row) {
				return x(ev, row)
			}
			return y(ev, row)
		}}
	case fastInt:
		x, y := a.int, b.int
		return &fast{kind: fastInt, int: func(ev *evaluator, row int) int64 {
			if p(ev, row) {
				return x(ev, row)
			}
			return y(ev, row)
		}}
	case fastStr:
		x, y := a.str, b.str
		return &fast{kind: fastStr, str: func(ev *evaluator, row int) string {
			if p(ev, row) {
				return x(ev, row)
			}
			return y(ev, row)
		}}
	case fastBool:
		x, y := a.bool, b.bool
		return &fast{kind: fastBool, bool: func(ev *evaluator, row int) bool {
			if p(ev, row) {
				return x(ev, row)
			}
			return y(ev, row)
		}}
	}
	return nil
}

package transform

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// PlanStep, applied step by step, accepts exactly what NewExprs accepts
// for the steps together, returns the schema NewExprs gives, and keys each
// problem; an unknown name gets a suggestion and its column.
func TestPlanStepAgreesWithNewExprs(t *testing.T) {
	in := arrow.NewSchema([]arrow.Field{
		{Name: "country", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	for _, c := range []struct {
		name    string
		steps   []Step
		wantKey string
		wantMsg string
	}{
		{"derive then filter on it", []Step{Derive{Name: "cents", Type: "float64", Expr: "(price ?? 0) * 100"}, Filter{Expr: "cents > 0"}}, "", ""},
		{"unknown name", []Step{Filter{Expr: `contry == "DE"`}}, "expr", `unknown name "contry" (did you mean "country"?)`},
		{"syntax", []Step{Derive{Name: "x", Type: "int64", Expr: "1 +"}}, "expr", `the expression ends too early at column 3 of "1 +"`},
		{"result type", []Step{Derive{Name: "x", Type: "int64", Expr: "country"}}, "expr", "expression is of type string, want int64"},
		{"filter not bool", []Step{Filter{Expr: "1"}}, "expr", "expression is of type int, want bool"},
		{"name taken", []Step{Derive{Name: "price", Type: "float64", Expr: "1.0"}}, "name", `column "price" already exists; choose another name`},
		{"derived name taken", []Step{Derive{Name: "a", Type: "int64", Expr: "1"}, Derive{Name: "a", Type: "int64", Expr: "2"}}, "name", `column "a" already exists; choose another name`},
		{"bad type", []Step{Derive{Name: "a", Type: "decimal", Expr: "1"}}, "type", `unknown type "decimal" (want string, int64, float64, bool, timestamp)`},
		{"empty", []Step{Filter{}}, "expr", "must not be empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			schema := in
			var problems []Problem
			for _, s := range c.steps {
				var p []Problem
				schema, p = PlanStep(schema, s)
				problems = append(problems, p...)
			}
			ex, err := NewExprs(memory.DefaultAllocator, in, c.steps...)
			if c.wantKey == "" {
				if len(problems) > 0 || err != nil {
					t.Fatalf("problems %v, NewExprs: %v", problems, err)
				}
				if !schema.Equal(ex.Schema()) {
					t.Errorf("schemas differ:\n%s\n%s", schema, ex.Schema())
				}
				return
			}
			if err == nil {
				t.Errorf("NewExprs accepts what PlanStep rejects: %v", problems)
			}
			if len(problems) != 1 || problems[0].Key != c.wantKey || problems[0].Msg != c.wantMsg {
				t.Fatalf("problems %+v, want one %s: %s", problems, c.wantKey, c.wantMsg)
			}
		})
	}
}

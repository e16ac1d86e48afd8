package transform_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/expr-lang/expr"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

// stepPool are the steps the property test combines: some fail on nulls,
// some on zero, some drop rows.
var stepPool = []transform.Step{
	transform.Derive{Name: "gross", Type: decode.Float64, Expr: `(price ?? 0) * 1.2`},
	transform.Derive{Name: "units", Type: decode.Int64, Expr: `qty * 2`},
	transform.Derive{Name: "cc", Type: decode.String, Expr: `upper(country)`},
	transform.Derive{Name: "cl", Type: decode.String, Expr: `country ?? "??"`},
	transform.Derive{Name: "late", Type: decode.Timestamp, Expr: `ts + duration("90m")`},
	transform.Derive{Name: "m", Type: decode.Int64, Expr: `100 % qty`},
	transform.Derive{Name: "maybe", Type: decode.Bool, Expr: `member`},
	transform.Filter{Expr: `country in ["DE", "FR"]`},
	transform.Filter{Expr: `price > 10`},
	transform.Filter{Expr: `member`},
	transform.Filter{Expr: `qty == nil || qty % 2 == 0`},
	transform.Filter{Expr: `country != "US"`},
}

func randomRecord(r *rand.Rand, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"event_id":"e%d","user_id":"u-%d","page":"/p/%d","ts":"2026-11-22T04:%02d:%02dZ"`, i, r.IntN(50), r.IntN(9), r.IntN(60), r.IntN(60))
	if v := r.IntN(5); v > 0 {
		fmt.Fprintf(&b, `,"country":"%s"`, []string{"DE", "FR", "US", "PL"}[v-1])
	}
	if r.IntN(4) > 0 {
		fmt.Fprintf(&b, `,"price":%d.%d`, r.IntN(30), r.IntN(100))
	}
	if r.IntN(4) > 0 {
		fmt.Fprintf(&b, `,"qty":%d`, r.IntN(5))
	}
	if v := r.IntN(3); v > 0 {
		fmt.Fprintf(&b, `,"member":%v`, v == 1)
	}
	return b.String() + "}"
}

// TestExprsProperty checks Exprs against a model that evaluates each row on
// its own with expr.Eval semantics (a fresh environment holding every
// column): the same rows are kept, dead-lettered and dropped, with the same
// values and origins, and rows out + dead + dropped = rows in.
func TestExprsProperty(t *testing.T) {
	mem := checked(t)
	r := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	for iter := range 150 {
		n := r.IntN(200)
		if iter%10 == 0 {
			n = 0
		}
		recs := make([]string, n)
		for i := range recs {
			recs[i] = randomRecord(r, i)
		}
		in := decoded(t, mem, clickFields, recs...)
		steps := slices.Clone(stepPool)
		r.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
		steps = steps[:1+r.IntN(5)]

		e, err := transform.NewExprs(mem, in.Record.Schema(), steps...)
		if err != nil {
			t.Fatal(err)
		}
		out, dead, err := e.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		wantRows, wantDead, dropped := model(t, in, steps)
		if out.Rows()+len(dead)+dropped != n {
			t.Errorf("steps %v: %d out + %d dead + %d dropped != %d in", steps, out.Rows(), len(dead), dropped, n)
		}
		if got, want := sequences(out), wantRows.seqs; !slices.Equal(got, want) {
			t.Errorf("steps %v: kept %v, want %v", steps, got, want)
		}
		for name, want := range wantRows.cols {
			if got := column(t, out, name); !slices.Equal(got, want) {
				t.Errorf("steps %v: column %s = %q, want %q", steps, name, got, want)
			}
		}
		var gotDead []string
		for _, d := range dead {
			gotDead = append(gotDead, d.SequenceNumber+" "+d.Reason)
		}
		if !slices.Equal(gotDead, wantDead) {
			t.Errorf("steps %v: dead %q, want %q", steps, gotDead, wantDead)
		}
		out.Record.Release()
		e.Close(context.Background())
	}
}

type modelRows struct {
	seqs []string
	cols map[string][]string
}

func model(t *testing.T, in *flow.Batch, steps []transform.Step) (rows modelRows, dead []string, dropped int) {
	t.Helper()
	rows.cols = map[string][]string{}
	schema := in.Record.Schema()
	for row := range in.Rows() {
		env := map[string]any{}
		for c, f := range schema.Fields() {
			col := in.Record.Column(c)
			switch {
			case col.IsNull(row):
				env[f.Name] = nil
			case f.Type.ID() == arrow.TIMESTAMP:
				env[f.Name] = col.(*array.Timestamp).Value(row).ToTime(arrow.Microsecond)
			default:
				env[f.Name] = col.GetOneForMarshal(row)
			}
		}
		vals := map[string]string{}
		why, keep := "", true
	steps:
		for i, s := range steps {
			switch s := s.(type) {
			case transform.Filter:
				v, err := expr.Eval(s.Expr, env)
				switch {
				case err != nil:
					why = fmt.Sprintf("filter[%d]: %v", i, err)
				case v == nil || v == false:
					keep = false
				}
			case transform.Derive:
				v, err := expr.Eval(s.Expr, env)
				if err != nil {
					why = s.Name + ": " + err.Error()
					break steps
				}
				env[s.Name] = v
				vals[s.Name] = modelString(v)
			}
			if why != "" || !keep {
				break
			}
		}
		switch {
		case why != "":
			dead = append(dead, in.Origins[row].SequenceNumber+" expr_error: "+strings.SplitN(why, "\n", 2)[0])
		case !keep:
			dropped++
		default:
			rows.seqs = append(rows.seqs, in.Origins[row].SequenceNumber)
			for name, v := range vals {
				rows.cols[name] = append(rows.cols[name], v)
			}
			for c, f := range schema.Fields() {
				rows.cols[f.Name] = append(rows.cols[f.Name], in.Record.Column(c).ValueStr(row))
			}
		}
	}
	return rows, dead, dropped
}

// modelString formats a model value as Arrow's ValueStr does.
func modelString(v any) string {
	switch v := v.(type) {
	case nil:
		return array.NullValueStr
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05Z")
	case int:
		return fmt.Sprint(v)
	}
	return fmt.Sprint(v)
}

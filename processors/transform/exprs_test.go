package transform_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

var clickRows = []string{
	`{"event_id":"e0","user_id":"u-1","page":"/a","country":"DE","ts":"2026-11-22T04:50:48Z","price":10,"qty":2,"member":true}`,
	`{"event_id":"e1","user_id":"u-2","page":"/b","country":"US","ts":"2026-11-22T04:50:49Z","price":20,"qty":1,"member":false}`,
	`{"event_id":"e2","user_id":"u-3","page":"/c","country":"FR","ts":"2026-11-22T04:50:50Z","price":null,"qty":null}`,
	`{"event_id":"e3","user_id":"u-4","page":"/d","country":null,"ts":"2026-11-22T04:50:51Z","price":5.5,"qty":3}`,
	`{"event_id":"e4","user_id":"u-5","page":"/e","country":"FR","ts":"2026-11-22T04:50:52Z","price":0,"qty":0,"member":true}`,
}

func TestExprsDeriveAndFilter(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	e, err := transform.NewExprs(mem, in.Record.Schema(),
		transform.Derive{Name: "gross", Type: decode.Float64, Expr: `(price ?? 0) * 1.2`},
		transform.Filter{Expr: `country in ["DE", "FR"]`},
		transform.Derive{Name: "country_lc", Type: decode.String, Expr: `lower(country) + ":" + user_id`},
		transform.Derive{Name: "units", Type: decode.Int64, Expr: `qty * 2`}, // null qty: runtime error
		transform.Derive{Name: "later", Type: decode.Timestamp, Expr: `ts + duration("1h30m")`},
		transform.Derive{Name: "vip", Type: decode.Bool, Expr: `member ?? false`},
		transform.Derive{Name: "big", Type: decode.Bool, Expr: `gross > 10`}, // reads a derive
	)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	out, dead, err := e.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Record.Release()

	// e1 (US) and e3 (null country) are filtered; e2 has a null qty.
	if got, want := sequences(out), []string{"1000", "1004"}; !slices.Equal(got, want) {
		t.Errorf("kept rows %v, want %v", got, want)
	}
	want := map[string][]string{
		"event_id":   {"e0", "e4"},
		"gross":      {"12", "0"},
		"country_lc": {"de:u-1", "fr:u-5"},
		"units":      {"4", "0"},
		"later":      {"2026-11-22T06:20:48Z", "2026-11-22T06:20:52Z"},
		"vip":        {"true", "true"},
		"big":        {"true", "false"},
	}
	for name, w := range want {
		if got := column(t, out, name); !slices.Equal(got, w) {
			t.Errorf("%s = %q, want %q", name, got, w)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters %+v, want 1", dead)
	}
	d := dead[0]
	if d.SequenceNumber != "1002" || d.Shard != "shard-7" || !strings.HasPrefix(d.Reason, "expr_error: units: invalid operation: <nil> * int") {
		t.Errorf("dead letter %+v", d)
	}
	var raw map[string]any
	if err := json.Unmarshal(d.Raw, &raw); err != nil || raw["event_id"] != "e2" || raw["price"] != nil || raw["ts"] != "2026-11-22T04:50:50Z" {
		t.Errorf("dead letter raw %s (%v): want the input row as JSON", d.Raw, err)
	}
	if got := out.Record.Schema().NumFields(); got != len(clickFields)+6 {
		t.Errorf("%d output columns", got)
	}
	if !out.Record.Schema().Equal(e.Schema()) {
		t.Errorf("output schema %v, Schema() %v", out.Record.Schema(), e.Schema())
	}
}

func TestExprsNulls(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	e, err := transform.NewExprs(mem, in.Record.Schema(),
		// A nil result is a null; a conditional says what null means.
		transform.Derive{Name: "net", Type: decode.Float64, Expr: `price == nil ? nil : price / 1.19`},
		transform.Derive{Name: "c", Type: decode.String, Expr: `country`},
		// A nil filter result drops the row like false.
		transform.Filter{Expr: `member`},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	out, dead, err := e.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Record.Release()
	if len(dead) != 0 {
		t.Errorf("dead letters %+v", dead)
	}
	if got := sequences(out); !slices.Equal(got, []string{"1000", "1004"}) {
		t.Errorf("kept %v", got)
	}
	e2, err := transform.NewExprs(mem, in.Record.Schema(),
		transform.Derive{Name: "net", Type: decode.Float64, Expr: `price == nil ? nil : price / 1.19`},
		transform.Derive{Name: "c", Type: decode.String, Expr: `country`},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	out2, _, err := e2.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Record.Release()
	if got := column(t, out2, "c"); !slices.Equal(got, []string{"DE", "US", "FR", "(null)", "FR"}) {
		t.Errorf("c = %q", got)
	}
	if got := column(t, out2, "net"); got[2] != "(null)" || got[0] == "(null)" {
		t.Errorf("net = %q", got)
	}
}

func TestExprsRuntimeErrorsAreDeadLetters(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	cases := []struct {
		step transform.Step
		dead map[string]string // sequence -> reason prefix
	}{
		{transform.Filter{Expr: `price > 1`}, map[string]string{"1002": "expr_error: filter[0]: invalid operation: <nil> > int"}},
		{transform.Derive{Name: "n", Type: decode.Int64, Expr: `int(page)`}, map[string]string{
			"1000": "expr_error: n: invalid operation: int(/a)", "1001": "", "1002": "", "1003": "", "1004": ""}},
		{transform.Derive{Name: "m", Type: decode.Int64, Expr: `10 % qty`}, map[string]string{
			"1002": "expr_error: m: invalid operation: int % <nil>", "1004": "expr_error: m: runtime error: integer divide by zero"}},
		{transform.Derive{Name: "x", Type: decode.Float64, Expr: `country == "DE" ? "str" : 1.0`}, map[string]string{
			"1000": "expr_error: x: result is string, want float64"}},
		{transform.Filter{Expr: `country == "US" ? "yes" : true`}, map[string]string{
			"1001": "expr_error: filter[0]: result is string, want bool"}},
		{transform.Derive{Name: "t", Type: decode.Timestamp, Expr: `member == true ? date("9999-12-31T00:00:00Z") + duration("48h") : ts`}, map[string]string{
			"1000": "expr_error: t: timestamp 10000-01-02", "1004": "expr_error: t: timestamp 10000-01-02"}},
	}
	for _, c := range cases {
		e, err := transform.NewExprs(mem, in.Record.Schema(), c.step)
		if err != nil {
			t.Errorf("%+v: %v", c.step, err)
			continue
		}
		out, dead, err := e.Process(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range dead {
			got[d.SequenceNumber] = d.Reason
		}
		if len(got) != len(c.dead) {
			t.Errorf("%+v: dead letters %q, want %q", c.step, got, c.dead)
		}
		for seq, prefix := range c.dead {
			if r, ok := got[seq]; !ok || !strings.HasPrefix(r, prefix) {
				t.Errorf("%+v: row %s reason %q, want prefix %q", c.step, seq, r, prefix)
			}
		}
		if out.Rows()+len(dead) > in.Rows() {
			t.Errorf("%+v: %d rows out + %d dead > %d in", c.step, out.Rows(), len(dead), in.Rows())
		}
		out.Record.Release()
		e.Close(context.Background())
	}
}

func TestNewExprsErrors(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows[0])
	cases := []struct {
		steps []transform.Step
		want  []string
	}{
		{[]transform.Step{transform.Filter{Expr: `prize > 0`}}, []string{"steps[0].expr: unknown name prize"}},
		{[]transform.Step{transform.Derive{Name: "d", Type: decode.Float64, Expr: `upper(page)`}}, []string{"steps[0].expr: expression is of type string, want float64"}},
		{[]transform.Step{transform.Derive{Name: "d", Type: decode.Int64, Expr: `price * 2`}}, []string{"steps[0].expr: expression is of type float64, want int64"}},
		{[]transform.Step{transform.Filter{Expr: `price * 2`}}, []string{"steps[0].expr: expression is of type float64, want bool"}},
		{[]transform.Step{transform.Derive{Name: "page", Type: decode.String, Expr: `page`}}, []string{`steps[0].name: column "page" already exists`}},
		{[]transform.Step{transform.Derive{Name: "a", Type: "decimal", Expr: `1`}, transform.Derive{Expr: `1`, Type: decode.Int64}},
			[]string{`steps[0].type: unknown type "decimal"`, "steps[1].name: must not be empty"}},
		{[]transform.Step{transform.Derive{Name: "a", Type: decode.Int64, Expr: `b`}, transform.Derive{Name: "b", Type: decode.Int64, Expr: `1`}},
			[]string{"steps[0].expr: unknown name b"}}, // a step sees only earlier derives
		{[]transform.Step{transform.Derive{Name: "a", Type: decode.Int64, Expr: `1`}, transform.Derive{Name: "a", Type: decode.Int64, Expr: `2`}},
			[]string{`steps[1].name: column "a" already exists`}},
		{[]transform.Step{transform.Filter{Expr: `country ==`}}, []string{"steps[0].expr: unexpected token EOF"}},
		{nil, []string{"at least one step"}},
	}
	for _, c := range cases {
		_, err := transform.NewExprs(mem, in.Record.Schema(), c.steps...)
		if err == nil {
			t.Errorf("%+v: no error, want %q", c.steps, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not contain %q", c.steps, err, w)
			}
		}
	}
}

func TestExprsSchemaMismatch(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows[0])
	other := decoded(t, mem, clickFields[:3], `{"event_id":"e","user_id":"u","page":"p"}`)
	e, err := transform.NewExprs(mem, in.Record.Schema(), transform.Filter{Expr: `true`})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if out, _, err := e.Process(context.Background(), other); !errors.Is(err, transform.ErrSchemaMismatch) || out != nil {
		t.Errorf("Process(other schema) = %v, %v; want ErrSchemaMismatch", out, err)
	}
}

func TestExprsKeepsAllRowsWithoutCopying(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	e, err := transform.NewExprs(mem, in.Record.Schema(), transform.Filter{Expr: `ts.Year() == 2026`})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	out, dead, err := e.Process(context.Background(), in)
	if err != nil || len(dead) > 0 {
		t.Fatal(err, dead)
	}
	defer out.Record.Release()
	for i := range in.Record.NumCols() {
		if out.Record.Column(int(i)).Data() != in.Record.Column(int(i)).Data() {
			t.Errorf("column %d was copied", i)
		}
	}
	if &out.Origins[0] != &in.Origins[0] {
		t.Errorf("origins were copied")
	}
}

func TestExprsEnvAndConcurrentUse(t *testing.T) {
	mem := checked(t)
	in := decoded(t, mem, clickFields, clickRows...)
	e, err := transform.NewExprs(mem, in.Record.Schema(),
		transform.Derive{Name: "c", Type: decode.String, Expr: `$env["country"] ?? "none"`},
		transform.Filter{Expr: `c != "US"`},
	)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	done := make(chan error)
	for range 4 {
		go func() {
			for range 50 {
				out, dead, err := e.Process(context.Background(), in)
				if err != nil {
					done <- err
					return
				}
				got := column(t, out, "c")
				out.Record.Release()
				if len(dead) != 0 || !slices.Equal(got, []string{"DE", "FR", "none", "FR"}) {
					done <- fmt.Errorf("c = %q, dead %v", got, dead)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

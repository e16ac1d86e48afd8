package transform

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

// TestFastMatchesVM runs expressions with their fast forms and with the VM
// alone over the same rows, nulls included, and requires identical output
// batches and dead letters.
func TestFastMatchesVM(t *testing.T) {
	fields := []decode.Field{
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "plan", Type: decode.String},
		{Name: "price", Type: decode.Float64, Nullable: true},
		{Name: "qty", Type: decode.Int64, Nullable: true},
		{Name: "n", Type: decode.Int64},
		{Name: "member", Type: decode.Bool, Nullable: true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	maybe := func(v string) string {
		if rng.IntN(6) == 0 {
			return "null"
		}
		return v
	}
	var recs []flow.SourceRecord
	for i := range 2000 {
		price := []string{"0", "1.5", "-2.25", "1e300", "100", "0.1"}[rng.IntN(6)]
		recs = append(recs, flow.SourceRecord{SequenceNumber: fmt.Sprint(i), Data: fmt.Appendf(nil,
			`{"country":%s,"plan":"%s","price":%s,"qty":%s,"n":%d,"member":%s}`,
			maybe(`"`+[]string{"DE", "FR", "US", "", "de"}[rng.IntN(5)]+`"`), []string{"free", "pro", "enterprise"}[rng.IntN(3)],
			maybe(price), maybe(fmt.Sprint(rng.IntN(7)-3)), rng.Int64N(1<<62)-(1<<61), maybe([]string{"true", "false"}[rng.IntN(2)]))})
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	d, err := decode.New(mem, fields)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	in, dead := d.Decode("shard-0", recs)
	if len(dead) > 0 {
		t.Fatal(dead[0].Reason)
	}
	defer in.Record.Release()
	cases := [][]Step{
		{Derive{Name: "x", Type: decode.Float64, Expr: `price * 1.2`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `plan == "enterprise" ? price * 0.8 : price`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `qty / 2`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `qty * 3 - 1`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `price / qty + n`}},
		{Derive{Name: "x", Type: decode.Int64, Expr: `n * 3 + qty - -n`}},
		{Derive{Name: "x", Type: decode.String, Expr: `member ? country : plan`}},
		{Derive{Name: "x", Type: decode.Bool, Expr: `!(price >= 1) || qty == 0 && n != 5`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `qty > 0 ? qty : price`}},
		{Filter{Expr: `country in ["DE", "FR"] && price > 0`}},
		{Filter{Expr: `country not in ["DE", "FR"] or member == true`}},
		{Filter{Expr: `country < "E" && plan >= "free" && price != 1.5 && qty <= 1.5`}},
		{Filter{Expr: `price > 0`}, Derive{Name: "net", Type: decode.Float64, Expr: `price * 0.9`},
			Filter{Expr: `net > 1 || plan == "pro"`}, Derive{Name: "y", Type: decode.Float64, Expr: `price - 1`}},
		{Derive{Name: "x", Type: decode.Int64, Expr: `qty % 2`}},
		{Derive{Name: "x", Type: decode.Float64, Expr: `price ?? 0`}},
	}
	ctx := context.Background()
	fastSteps := 0
	for _, steps := range cases {
		name := fmt.Sprint(steps)
		e, err := NewExprs(mem, in.Record.Schema(), steps...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vm, err := NewExprs(mem, in.Record.Schema(), steps...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range vm.steps {
			if e.steps[i].fast != nil {
				fastSteps++
			}
			vm.steps[i].fast = nil
		}
		got, gotDead, err := e.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		want, wantDead, err := vm.Process(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if msg := sameRecord(got.Record, want.Record); msg != "" {
			t.Errorf("%s: fast output differs from the VM's: %s", name, msg)
		}
		if !reflect.DeepEqual(gotDead, wantDead) {
			t.Errorf("%s: dead letters differ: fast %d, vm %d", name, len(gotDead), len(wantDead))
		}
		if !reflect.DeepEqual(got.Origins, want.Origins) {
			t.Errorf("%s: origins differ", name)
		}
		t.Logf("%-60.60s rows %d, dead %d", strings.TrimPrefix(name, "["), got.Rows(), len(gotDead))
		got.Record.Release()
		want.Record.Release()
		e.Close(ctx)
		vm.Close(ctx)
	}
	if fastSteps < 14 {
		t.Errorf("only %d steps have a fast form; the subset shrank", fastSteps)
	}
}

// sameRecord compares two records exactly, float64 columns bit for bit (so
// that NaN equals NaN), and says where they first differ.
func sameRecord(a, b arrow.RecordBatch) string {
	if !a.Schema().Equal(b.Schema()) || a.NumRows() != b.NumRows() {
		return fmt.Sprintf("schema/rows: %v %d vs %v %d", a.Schema(), a.NumRows(), b.Schema(), b.NumRows())
	}
	for c := range int(a.NumCols()) {
		x, y := a.Column(c), b.Column(c)
		fx, ok := x.(*array.Float64)
		if !ok {
			if !array.Equal(x, y) {
				return fmt.Sprintf("column %s differs", a.Schema().Field(c).Name)
			}
			continue
		}
		fy := y.(*array.Float64)
		for i := range fx.Len() {
			if fx.IsNull(i) != fy.IsNull(i) || (fx.IsValid(i) && math.Float64bits(fx.Value(i)) != math.Float64bits(fy.Value(i))) {
				return fmt.Sprintf("column %s row %d: %v vs %v", a.Schema().Field(c).Name, i, fx.ValueStr(i), fy.ValueStr(i))
			}
		}
	}
	return ""
}

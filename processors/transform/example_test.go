package transform_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

func ExampleNewExprs() {
	mem := memory.DefaultAllocator
	d, _ := decode.New(mem, []decode.Field{
		{Name: "country", Type: decode.String, Nullable: true},
		{Name: "price", Type: decode.Float64, Nullable: true},
	})
	defer d.Release()
	in, _ := d.Decode("shard-0", []flow.SourceRecord{
		{Data: []byte(`{"country":"DE","price":10}`), SequenceNumber: "1"},
		{Data: []byte(`{"country":"US","price":20}`), SequenceNumber: "2"},
		{Data: []byte(`{"country":"FR"}`), SequenceNumber: "3"},
		{Data: []byte(`{"price":5}`), SequenceNumber: "4"},
	})
	defer in.Record.Release()

	e, err := transform.NewExprs(mem, d.Schema(),
		transform.Filter{Expr: `country in ["DE", "FR"]`}, // a null country is not in the list
		transform.Derive{Name: "gross", Type: decode.Float64, Expr: `price * 1.19`},
	)
	if err != nil {
		panic(err)
	}
	defer e.Close(context.Background())
	out, dead, err := e.Process(context.Background(), in)
	if err != nil {
		panic(err) // only when the batch must be retried
	}
	defer out.Record.Release()
	fmt.Println(out.Rows(), "rows:", out.Record.Column(0), out.Record.Column(2))
	for _, dl := range dead {
		fmt.Println("dead letter", dl.SequenceNumber, dl.Reason, string(dl.Raw))
	}
	// Output:
	// 1 rows: ["DE"] [11.899999999999999]
	// dead letter 3 expr_error: gross: invalid operation: <nil> * float64 (1:7) {"country":"FR","price":null}
}

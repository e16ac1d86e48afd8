package decode_test

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
)

func Example() {
	d, err := decode.New(memory.DefaultAllocator, []decode.Field{
		{Name: "user_id", Type: decode.String, Path: "user.id"},
		{Name: "price", Type: decode.Float64, Nullable: true},
	})
	if err != nil {
		panic(err)
	}
	defer d.Release()

	b, dead := d.Decode("shardId-000000000000", []flow.SourceRecord{
		{Data: []byte(`{"user":{"id":"u-1"},"price":19.99}`), SequenceNumber: "1"},
		{Data: []byte(`{"user":{"id":"u-2"},"price":"free"}`), SequenceNumber: "2"},
		{Data: []byte(`{"user":{"id":"u-3"}}`), SequenceNumber: "3"},
	})
	defer b.Record.Release()

	fmt.Println(b.Rows(), "rows:", b.Record.Column(0), b.Record.Column(1))
	for _, dl := range dead {
		fmt.Println(dl.SequenceNumber, decode.ReasonCode(dl.Reason), "-", dl.Reason)
	}
	// Output:
	// 2 rows: ["u-1" "u-3"] [19.99 (null)]
	// 2 type_mismatch - type_mismatch: price: want float64, got string
}

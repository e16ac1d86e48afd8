package enrich_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/enrich"
)

func ExampleNewStaticTable() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "countries.csv")
	_ = os.WriteFile(file, []byte("country,name,vat\nDE,Germany,0.19\nFR,France,0.2\n"), 0o600)

	mem := memory.DefaultAllocator
	d, _ := decode.New(mem, []decode.Field{{Name: "country", Type: decode.String}})
	defer d.Release()
	in, _ := d.Decode("shard-0", []flow.SourceRecord{
		{Data: []byte(`{"country":"FR"}`), SequenceNumber: "1"},
		{Data: []byte(`{"country":"XX"}`), SequenceNumber: "2"},
	})
	defer in.Record.Release()

	table, err := enrich.NewStaticTable(mem, d.Schema(), enrich.StaticOptions{
		File: file, Key: "{country}", OnMiss: enrich.MissDeadLetter,
		Fields: []enrich.Field{{From: "name", As: "country_name", Type: decode.String}, {From: "vat", Type: decode.Float64}},
	})
	if err != nil {
		panic(err)
	}
	defer table.Close(context.Background())
	out, dead, _ := table.Process(context.Background(), in)
	defer out.Record.Release()
	fmt.Println(out.Record.Schema().Field(1).Name, out.Record.Column(1), out.Record.Column(2))
	fmt.Println(dead[0].SequenceNumber, dead[0].Reason, string(dead[0].Raw))
	// Output:
	// country_name ["France"] [0.2]
	// 2 enrich_miss: XX {"country":"XX"}
}

package decode

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// FuzzDecode feeds arbitrary bytes between two valid records to decoders of
// two schemas. It must never panic, must account for every record, and must
// agree with the encoding/json oracle, which also proves the builders stayed
// consistent: a value left behind by a rejected record would shift the
// columns of the valid record after it.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		clickRecord(0),
		`{"event_id":"e","user":{"id":"u","profile":{"name":null}},"ts":"2026-11-22T04:50:48Z","qty":1.0}`,
		`{"user":{"id":"\ud83d\ude00"},"a":{"b":{"c":true}},"tsu":-0.5,"tsm":1e3}`,
		`{"user":"x","user":{"id":9223372036854775807}}`,
		`{"v":"\u2028","x":[1,{"y":[]}],"price":-0.0}`,
		`[1,2]`, `"s"`, ``, ` `, `{`, `{"a":1}x`, "{\"event_id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	type dec struct {
		fields []Field
		d      *Decoder
	}
	var decs []dec
	for _, name := range []string{"clicks", "overlapping", "lenient"} {
		fields := propertySchemas[name].fields
		d, err := New(mem, fields)
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, dec{fields, d})
	}
	valid := []byte(`{"event_id":"e1","user":{"id":"u1"},"ts":"2026-11-22T04:50:48.123456Z","qty":3,"price":1.5,"ok":true}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, dc := range decs {
			inputs := [][]byte{valid, data, valid}
			got := run(t, dc.d, inputs)
			for i, in := range inputs {
				if want := oracle(dc.fields, in); !sameOutcome(got[i], want) {
					t.Fatalf("input %d %q:\n got  %v\n want %v", i, in, got[i], want)
				}
			}
		}
		mem.AssertSize(t, 0) // every batch was released; builders hold nothing between calls
	})
}

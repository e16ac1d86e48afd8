package transform_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/shardflow/shardflow/processors/decode"
	"github.com/shardflow/shardflow/processors/transform"
)

func benchRecord(i int) string {
	return fmt.Sprintf(`{"event_id":"e-%d","user_id":"u-%05d","page":"/products/%d","country":"%s","ts":"2026-11-22T04:50:%02dZ","price":%d.99,"qty":%d,"member":%v}`,
		i, i%100000, i%1000, []string{"DE", "FR", "US"}[i%3], i%60, i%100, i%7, i%2 == 0)
}

// BenchmarkExprs measures one derive and one filter over click events; a
// third of the rows are filtered out, so the kept rows are copied.
func BenchmarkExprs(b *testing.B) {
	for _, bc := range []struct {
		name  string
		steps []transform.Step
	}{
		{"derive", []transform.Step{transform.Derive{Name: "gross", Type: decode.Float64, Expr: `price * 1.2`}}},
		{"filter", []transform.Step{transform.Filter{Expr: `country in ["DE", "FR"] && price > 0`}}},
		{"derive+filter", []transform.Step{
			transform.Derive{Name: "gross", Type: decode.Float64, Expr: `price * 1.2`},
			transform.Filter{Expr: `country in ["DE", "FR"] && price > 0`},
		}},
	} {
		for _, rows := range []int{100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/rows=%d", bc.name, rows), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				recs := make([]string, rows)
				for i := range recs {
					recs[i] = benchRecord(i)
				}
				in := decoded(b, mem, clickFields, recs...)
				e, err := transform.NewExprs(mem, in.Record.Schema(), bc.steps...)
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close(context.Background())
				ctx := context.Background()
				b.ReportAllocs()
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				for b.Loop() {
					out, dead, err := e.Process(ctx, in)
					if err != nil || len(dead) > 0 {
						b.Fatal(err, dead)
					}
					out.Record.Release()
				}
				runtime.ReadMemStats(&ms1)
				n := float64(b.N) * float64(rows)
				b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/record")
			})
		}
	}
}

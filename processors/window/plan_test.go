package window

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/redis/go-redis/v9"
)

// Plan and New agree: whatever Plan accepts New builds, and whatever New
// rejects Plan reports; Plan names each problem's key.
func TestPlanAgreesWithNew(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: timestampUS},
		{Name: "country", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	base := func() Options {
		return Options{Pipeline: "p", Name: "w", Schema: schema, TimeColumn: "ts", Size: time.Minute,
			GroupBy: []string{"country"}, Aggregates: []Aggregate{{Name: "n", Func: Count}, {Name: "rev", Func: Sum, Column: "price"}}}
	}
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled: New does no I/O
	defer client.Close()
	for _, c := range []struct {
		name    string
		mod     func(*Options)
		wantKey string // "" : valid
	}{
		{"valid", func(*Options) {}, ""},
		{"hopping", func(o *Options) { o.Slide = 20 * time.Second }, ""},
		{"session", func(o *Options) { o.Size, o.Gap = 0, 30*time.Second }, ""},
		{"time column missing", func(o *Options) { o.TimeColumn = "tss" }, "time_column"},
		{"time column not a timestamp", func(o *Options) { o.TimeColumn = "price" }, "time_column"},
		{"group column missing", func(o *Options) { o.GroupBy = []string{"contry"} }, "group_by[0]"},
		{"sum of a string", func(o *Options) { o.Aggregates[1].Column = "country" }, "aggregates[1].column"},
		{"max of a bool", func(o *Options) { o.Aggregates[1] = Aggregate{Name: "m", Func: Max, Column: "ok"} }, "aggregates[1].column"},
		{"aggregate column missing", func(o *Options) { o.Aggregates[1].Column = "prize" }, "aggregates[1].column"},
		{"unknown function", func(o *Options) { o.Aggregates[0].Func = "median" }, "aggregates[0].fn"},
		{"name clash", func(o *Options) { o.Aggregates[0].Name = "window_start" }, "aggregates[0].name"},
		{"slide not dividing", func(o *Options) { o.Slide = 7 * time.Second }, "slide"},
		{"no size", func(o *Options) { o.Size = 0 }, "size"},
		{"update of sessions", func(o *Options) { o.Size, o.Gap, o.LateRows = 0, time.Second, LateUpdate }, "late_rows"},
		{"negative lateness", func(o *Options) { o.AllowedLateness = -time.Second }, "allowed_lateness"},
		{"no aggregates", func(o *Options) { o.Aggregates = nil }, "aggregates"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := base()
			c.mod(&o)
			result, problems := Plan(o)
			o.Redis = client
			op, err := New(o)
			if err == nil {
				defer op.Close(context.Background())
			}
			if c.wantKey == "" {
				if len(problems) > 0 || err != nil {
					t.Fatalf("problems %v, New: %v", problems, err)
				}
				if got, want := result.String(), op.ResultSchema().String(); got != want {
					t.Errorf("Plan's result schema\n%s\nNew's\n%s", got, want)
				}
				return
			}
			if len(problems) == 0 || problems[0].Key != c.wantKey {
				t.Fatalf("problems %v, want one at %s", problems, c.wantKey)
			}
			if err == nil {
				t.Errorf("Plan rejects (%v), New accepts", problems)
			}
		})
	}
}

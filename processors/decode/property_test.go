package decode

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// propertySchemas cover every type and format, nullable and default
// handling, nested paths, a path that is a prefix of others and two columns
// reading the same path.
var propertySchemas = map[string]struct {
	fields []Field
	codes  []string // outcomes the generator must produce at least once
}{
	"clicks": {[]Field{
		{Name: "event_id", Type: String},
		{Name: "uid", Type: String, Path: "user.id"},
		{Name: "name", Type: String, Path: "user.profile.name", Nullable: true},
		{Name: "qty", Type: Int64, Nullable: true},
		{Name: "price", Type: Float64, Default: ptr("0")},
		{Name: "ok", Type: Bool, Nullable: true},
		{Name: "ts", Type: Timestamp},
		{Name: "tsu", Type: Timestamp, Format: "unix", Nullable: true},
		{Name: "tsm", Type: Timestamp, Format: "unix_ms", Default: ptr("1.5")},
		{Name: "day", Type: Timestamp, Format: "2006-01-02", Nullable: true},
	}, []string{"", ReasonInvalidJSON, ReasonNotAnObject, ReasonMissingField, ReasonTypeMismatch,
		ReasonOutOfRange, ReasonInvalidTimestamp, ReasonInvalidUTF8}},
	"overlapping": {[]Field{
		{Name: "user", Type: String, Nullable: true},
		{Name: "uid", Type: Int64, Path: "user.id", Nullable: true},
		{Name: "uid_s", Type: String, Path: "user.id", Nullable: true},
		{Name: "c", Type: Bool, Path: "a.b.c", Nullable: true},
		{Name: "b", Type: String, Path: "a.b", Default: ptr("none")},
	}, []string{"", ReasonInvalidJSON, ReasonTypeMismatch}},
	"lenient": {[]Field{ // everything nullable: most records become rows
		{Name: "event_id", Type: String, Nullable: true},
		{Name: "pname", Type: String, Path: "user.profile.name", Nullable: true},
		{Name: "qty", Type: Float64, Nullable: true},
		{Name: "price", Type: Int64, Nullable: true, Default: ptr("-1")},
		{Name: "ts", Type: Timestamp, Nullable: true},
		{Name: "tsm", Type: Timestamp, Format: "unix_ms", Nullable: true},
	}, []string{"", ReasonInvalidJSON, ReasonTypeMismatch, ReasonOutOfRange, ReasonInvalidTimestamp, ReasonInvalidUTF8}},
}

// TestDecodeProperty checks, over generated input, that every record is
// accounted for exactly once and that Decode agrees with the encoding/json
// oracle on every row value and every reason code. One Decoder serves many
// batches, as in production, so state leaking between records or calls shows.
func TestDecodeProperty(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 3000
	}
	for name, schema := range propertySchemas {
		fields := schema.fields
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			d, err := New(mem, fields)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Release()
			g := &gen{r: rand.New(rand.NewPCG(1, uint64(len(name))))}
			codes := map[string]int{}
			for done := 0; done < n; {
				batch := make([][]byte, g.r.IntN(60))
				for i := range batch {
					batch[i] = g.record()
				}
				done += len(batch)
				got := run(t, d, batch)
				for i, in := range batch {
					want := oracle(fields, in)
					if !sameOutcome(got[i], want) {
						t.Fatalf("record %q:\n got  %v\n want %v", in, got[i], want)
					}
					codes[ReasonCode(got[i].reason)]++
				}
			}
			t.Logf("outcomes: %v", codes)
			// Guard against a generator that stopped exercising something.
			for _, c := range schema.codes {
				if codes[c] == 0 {
					t.Errorf("no %q outcome in %d records", c, n)
				}
			}
		})
	}
}

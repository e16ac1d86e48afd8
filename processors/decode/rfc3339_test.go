package decode

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestParseRFC3339UTCMatchesTimeParse: whatever the fast path accepts,
// time.Parse accepts with the same microseconds, and the dates it declines
// include every one time.Parse rejects.
func TestParseRFC3339UTCMatchesTimeParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	inputs := []string{
		"2026-11-22T04:50:48Z", "2026-11-22T04:50:48.123Z", "2026-11-22T04:50:48.123456789Z",
		"2026-11-22T04:50:48.1234567891Z", "2026-11-22T04:50:48.Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2000-02-29T23:59:59.999999Z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.9999995Z", "1900-03-01T00:00:00Z",
		"2026-11-22T24:00:00Z", "2026-11-22T23:60:00Z", "2026-11-22T23:59:60Z", "2026-13-01T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-11-22t04:50:48Z", "2026-11-22T04:50:48z", "2026-11-22T04:50:48+00:00",
		"2026-11-22 04:50:48Z", "+026-11-22T04:50:48Z", "2026-1a-22T04:50:48Z", "2026-11-22T04:50:48.12a4Z",
	}
	for range 20000 {
		inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%0*dZ", rng.IntN(10000), rng.IntN(14), rng.IntN(33),
			rng.IntN(25), rng.IntN(61), rng.IntN(61), 1+rng.IntN(9), rng.IntN(10)))
		inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", 1+rng.IntN(9999), 1+rng.IntN(12), 1+rng.IntN(31),
			rng.IntN(24), rng.IntN(60), rng.IntN(60)))
	}
	accepted := 0
	for _, in := range inputs {
		us, ok := parseRFC3339UTC([]byte(in))
		if !ok {
			continue
		}
		accepted++
		ref, err := time.Parse(time.RFC3339Nano, in)
		if err != nil {
			t.Fatalf("%s: fast path accepted, time.Parse: %v", in, err)
		}
		if y := ref.UTC().Year(); y < 1 || y > 9999 {
			t.Fatalf("%s: fast path accepted year %d", in, y)
		}
		if ref.UnixMicro() != us {
			t.Fatalf("%s: fast path %d µs, time.Parse %d µs", in, us, ref.UnixMicro())
		}
	}
	if accepted < 20000 {
		t.Fatalf("fast path accepted only %d of %d inputs", accepted, len(inputs))
	}
}

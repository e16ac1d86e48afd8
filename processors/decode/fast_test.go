package decode

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestParseFloatFastMatchesStrconv: whatever the fast path accepts, it
// converts to exactly the bits strconv.ParseFloat gives.
func TestParseFloatFastMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inputs := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.3", "12.99", "999999999999999",
		"99999999999999.9", "0.000000000000001", "-0.000000000000001", "9007199254740993", "1e3", "1.5E-3"}
	for range 200000 {
		digits := 1 + rng.IntN(17)
		lit := strconv.FormatUint(rng.Uint64N(uint64(math.Pow10(min(digits, 19)))), 10)
		if dot := rng.IntN(len(lit) + 1); dot > 0 && dot < len(lit) {
			lit = lit[:dot] + "." + lit[dot:]
		}
		if rng.IntN(2) == 0 {
			lit = "-" + lit
		}
		inputs = append(inputs, lit, fmt.Sprintf("%.*f", rng.IntN(8), rng.Float64()*math.Pow10(rng.IntN(10))))
	}
	accepted := 0
	for _, in := range inputs {
		f, ok := parseFloatFast([]byte(in))
		if !ok {
			continue
		}
		accepted++
		ref, err := strconv.ParseFloat(in, 64)
		if err != nil || math.Float64bits(f) != math.Float64bits(ref) {
			t.Fatalf("%s: fast path %v (%x), strconv %v (%x) %v", in, f, math.Float64bits(f), ref, math.Float64bits(ref), err)
		}
	}
	if accepted < len(inputs)/2 {
		t.Fatalf("fast path accepted only %d of %d inputs", accepted, len(inputs))
	}
}

// TestRFC3339CacheMatchesParse: the cached parse gives parseRFC3339UTC's
// result for every input, whatever came before it.
func TestRFC3339CacheMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	prefixes := []string{"2026-11-22T04:50", "2024-02-29T23:59", "2023-02-29T00:00", "0000-01-01T00:00",
		"9999-12-31T23:59", "2026-11-22T24:00", "2026-11-22 04:50", "2026-1a-22T04:50"}
	tails := []string{":48Z", ":48.123Z", ":59.999999999Z", ":60Z", ":48.Z", ":48.1234567891Z", ":48+00:00", ":4aZ", "-48Z", ":48.12a4Z", ":00z"}
	var c rfc3339Cache
	for range 100000 {
		in := []byte(prefixes[rng.IntN(len(prefixes))] + tails[rng.IntN(len(tails))])
		if rng.IntN(10) == 0 {
			in = in[:rng.IntN(len(in)+1)]
		}
		us, ok := c.parse(in)
		want, wantOK := parseRFC3339UTC(in)
		if us != want || ok != wantOK {
			t.Fatalf("%q: cached %d %v, uncached %d %v", in, us, ok, want, wantOK)
		}
	}
}

// TestPlainRunMatchesByteLoop: the word-at-a-time scan stops where a byte
// loop would and reports a byte >= 0x80 exactly when the run has one.
func TestPlainRunMatchesByteLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte{'a', ' ', '~', 0x7f, 0x80, 0xc3, 0xff, '"', '\\', 0x00, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x22 ^ 0x80, 0x5c ^ 0x80}
	for range 200000 {
		d := make([]byte, rng.IntN(40))
		for j := range d {
			if rng.IntN(4) == 0 {
				d[j] = alphabet[rng.IntN(len(alphabet))]
			} else {
				d[j] = byte('a' + rng.IntN(26))
			}
		}
		start := rng.IntN(len(d) + 1)
		want, wantHigh := start, false
		for want < len(d) && strPlain[d[want]] {
			wantHigh = wantHigh || d[want] >= 0x80
			want++
		}
		got, high := plainRun(d, start)
		if got != want || (high != 0) != wantHigh {
			t.Fatalf("plainRun(%q, %d) = %d, %v; want %d, %v", d, start, got, high != 0, want, wantHigh)
		}
	}
}

// TestRawKeyMatchesCompare: the word compare of a guessed key agrees with
// comparing the name and the closing quote byte by byte.
func TestRawKeyMatchesCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	names := []string{"a", "ts", "page", "user_id", "event_id", "user_agent", "fifteen_chars_x", "sixteen_chars_xx", "é€", "p\x7f"}
	for _, name := range names {
		root := &node{slot: -1}
		n := root.insert(name)
		root.number(0)
		for range 20000 {
			d := []byte(`"` + name + `"` + strings.Repeat("x", rng.IntN(20)))
			if rng.IntN(2) == 0 { // corrupt one byte of the key, its quote or after it
				d[1+rng.IntN(len(name)+1)] = "ax\"\\_é"[rng.IntN(6)]
			}
			d = d[:1+rng.IntN(len(d))]
			j := 1 + len(name)
			want := j < len(d) && d[j] == '"' && string(d[1:j]) == name
			if got := rawKey(d, 0, n); got != want {
				t.Fatalf("rawKey(%q, %q) = %v, want %v", d, name, got, want)
			}
		}
	}
}

package flow

import "testing"

func TestCompareSequence(t *testing.T) {
	const a, b = "49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692540925702759324208523137515618"
	for _, c := range []struct {
		a, b string
		want int
	}{
		{a, b, -1}, {b, a, 1}, {a, a, 0},
		{"9", "10", -1}, {"10", "9", 1}, // numbers, not text
		{"009", "10", -1}, {"0010", "10", 0},
		{"", "1", -1}, {"", "", 0},
	} {
		if got := CompareSequence(c.a, c.b); got != c.want {
			t.Errorf("CompareSequence(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

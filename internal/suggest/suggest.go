package suggest

import (
	"fmt"
	"strings"
)

// Closest returns the candidate nearest to name, or "" when none is near
// enough to be a plausible typo: at most one edit for short names, about
// one edit per three characters for longer ones (insertions, deletions,
// substitutions and swaps of adjacent characters, case ignored). Ties go to
// the earlier candidate. Failing that, the longest candidate of at least
// four characters that starts or ends name, or that name starts
// ("stream_name" → "stream", "delivery" → "delivery_stream").
func Closest(name string, candidates []string) string {
	if c := closestByEdits(name, candidates); c != "" {
		return c
	}
	lower, best := strings.ToLower(name), ""
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if c == name || len(c) < 4 || len(lower) < 4 || len(c) <= len(best) {
			continue
		}
		if strings.HasPrefix(lower, lc) || strings.HasSuffix(lower, lc) || strings.HasPrefix(lc, lower) {
			best = c
		}
	}
	return best
}

func closestByEdits(name string, candidates []string) string {
	limit := max(1, len(name)/3)
	best, bestD := "", limit+1
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := distance(lower, strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean returns ` (did you mean "x"?)` for the closest candidate, or
// "" when there is none: ready to append to a message.
func DidYouMean(name string, candidates []string) string {
	if c := Closest(name, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// distance is the optimal string alignment distance of a and b (bytes).
func distance(a, b string) int {
	if a == b {
		return 0
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

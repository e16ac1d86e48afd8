package suggest

import "testing"

func TestClosest(t *testing.T) {
	cands := []string{"country", "user_id", "page", "stream", "shard_sync_interval", "lease_duration"}
	for _, c := range []struct{ name, want string }{
		{"contry", "country"},
		{"cuontry", "country"},    // swap
		{"COUNTRY", "country"},    // case
		{"stream_name", "stream"}, // by prefix
		{"lease", "lease_duration"},
		{"strem", "stream"},
		{"pgae", "page"},
		{"shard_sync_intervall", "shard_sync_interval"},
		{"lease_durration", "lease_duration"},
		{"x", ""},
		{"zzzzzz", ""},
		{"country", ""}, // itself is not a suggestion
	} {
		if got := Closest(c.name, cands); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	if got := DidYouMean("contry", cands); got != ` (did you mean "country"?)` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("nothing-like-it", cands); got != "" {
		t.Errorf("DidYouMean = %q, want empty", got)
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"a", "", 1}, {"", "ab", 2}, {"abc", "acb", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := distance(c.a, c.b); got != c.d {
			t.Errorf("distance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

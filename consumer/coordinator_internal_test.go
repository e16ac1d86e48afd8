package consumer

import (
	"testing"

	"github.com/shardflow/shardflow/checkpoints"
)

func TestCheckpointBehind(t *testing.T) {
	const a, b = "49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692540925702759324208523137515618"
	for _, c := range []struct {
		stored, wrote string
		behind        bool
	}{
		{a, b, true}, {b, a, false}, {a, a, false},
		{"9", "10", true}, {"10", "9", false}, // numbers, not strings
		{"", a, true}, {a, "", false}, {"", "", false},
		{a, checkpoints.ShardEnd, true}, {checkpoints.ShardEnd, a, false}, {checkpoints.ShardEnd, checkpoints.ShardEnd, false},
	} {
		if got := checkpointBehind(c.stored, c.wrote); got != c.behind {
			t.Errorf("checkpointBehind(%q, %q) = %v, want %v", c.stored, c.wrote, got, c.behind)
		}
	}
}

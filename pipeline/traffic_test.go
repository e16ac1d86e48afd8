package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// putAtRate puts the events of gen into the test stream at rate per second
// in the background; done answers once they are all put. want holds their
// ids.
func putAtRate(t *testing.T, s *stack, gen workload.Config, rate float64) (done <-chan error, want map[string]bool) {
	t.Helper()
	ch := make(chan error, 1)
	kc := s.env.Kinesis(t)
	go func() { // ends when the events are put
		_, err := produce.Put(context.Background(), kc, workload.New(gen), produce.Options{Stream: s.stream, Count: gen.Total, Rate: rate})
		ch <- err
	}()
	want = map[string]bool{}
	replay := workload.New(gen)
	for range gen.Total {
		e := replay.Next()
		want[e.ID()] = true
	}
	return ch, want
}

// tumbling10sEvents regenerates gen's events and the end of the last 10 s
// tumbling window they fall in (windowYAML's windows).
func tumbling10sEvents(gen workload.Config) (all []workload.Event, lastEnd time.Time) {
	g := workload.New(gen)
	all = make([]workload.Event, gen.Total)
	var maxTS time.Time
	for i := range all {
		all[i] = g.Next()
		if all[i].TS.After(maxTS) {
			maxTS = all[i].TS
		}
	}
	return all, maxTS.Truncate(10 * time.Second).Add(10 * time.Second)
}

// checkStoppedReading checks a pipeline that stopped reading for good (its
// store lost its data): it reads nothing more while wait passes, although
// new events (seed) are put; what it delivered before is want, exactly
// once, and none of the new events is delivered.
func checkStoppedReading(t *testing.T, p *pipeline.Pipeline, s *stack, want map[string]bool, seed uint64, wait time.Duration) {
	t.Helper()
	readBefore := p.Counters().RecordsIn
	later := putEvents(t, s, seed, 100)
	time.Sleep(wait)
	if n := p.Counters().RecordsIn; n != readBefore {
		t.Errorf("records read after the loss: %d → %d; want none", readBefore, n)
	}
	res := s.waitDelivered(t, len(want), time.Second)
	checkExactlyOnce(t, res, want)
	for id := range later {
		if res.IDs[id] != 0 {
			t.Fatalf("event %s put after the loss was delivered", id)
		}
	}
}

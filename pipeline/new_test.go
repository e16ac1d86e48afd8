package pipeline_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/pipeline"
)

// A New that fails late (here: a window whose planned options were spoilt
// after Plan, so that the operator fails after the outputs started) stops
// what it had started: no goroutine is left.
func TestFailedNewLeavesNoGoroutines(t *testing.T) {
	s := newStack(t, 1)
	y := s.yaml("redis", "", `windows:
  - name: bad
    time_column: ts
    tumbling: 1m
    group_by: [country]
    aggregates: [{name: n, fn: count}]
    output: {firehose: {delivery_stream: x}}`)
	cfg, err := pipeline.Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	plan.Windows[0].Options.GroupBy = []string{"no_such_column"}
	before := runtime.NumGoroutine()
	for range 3 {
		_, err = pipeline.New(context.Background(), plan, pipeline.Options{WorkerID: "leak"})
		if err == nil || !strings.Contains(err.Error(), "no_such_column") {
			t.Fatalf("New: err = %v, want the missing group_by column", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after three failed New calls:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/pipeline"
)

// lockedBuffer is an io.Writer safe for the EMF writer's goroutine and the
// test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With ops.emf set, the pipeline writes CloudWatch EMF lines whose record
// and row counts add up to what was produced and delivered.
func TestEMFLinesCountRecords(t *testing.T) {
	const events = 600
	s := newStack(t, 2)
	cfg := s.config(t)
	cfg.Ops.EMF = &pipeline.EMFConfig{Namespace: "shardflow-test", Interval: pipeline.Duration(time.Second)}
	out := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	plan, err := pipeline.Plan(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, plan, pipeline.Options{Logger: log, WorkerID: "emf", EMFOutput: out})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), workload.New(workload.Config{Seed: 3, Total: events}),
		produce.Options{Stream: s.stream, Count: events}); err != nil {
		t.Fatal(err)
	}
	s.waitDelivered(t, events, 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	sums := map[string]float64{}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader([]byte(out.String())))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("EMF line %q: %v", sc.Text(), err)
		}
		aws, ok := m["_aws"].(map[string]any)
		if !ok || m["pipeline"] != cfg.Name {
			t.Fatalf("EMF line without _aws metadata or pipeline dimension: %s", sc.Text())
		}
		if cw, _ := aws["CloudWatchMetrics"].([]any); len(cw) == 0 {
			t.Fatalf("EMF line without CloudWatchMetrics: %s", sc.Text())
		}
		for _, k := range []string{"RecordsRead", "OutputRows", "RecordsAcked"} {
			v, _ := m[k].(float64)
			sums[k] += v
		}
		lines++
	}
	t.Logf("%d EMF lines, sums %v", lines, sums)
	if lines < 2 || sums["RecordsRead"] != events || sums["OutputRows"] != events || sums["RecordsAcked"] != events {
		t.Fatalf("EMF: %d lines, sums %v; want ≥ 2 lines and %d records read, output and acked", lines, sums, events)
	}
}

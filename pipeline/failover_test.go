package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/pipeline"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the binary shardflowBinary built (90 MB a run).
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// shardflowBinary builds cmd/shardflow once per test process.
func shardflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shardflow-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "shardflow")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/shardflow").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// worker is one `shardflow run` process whose JSON log is parsed for lease
// events.
type worker struct {
	id     string
	cmd    *exec.Cmd
	exited chan error

	mu     sync.Mutex
	held   map[string]time.Time // shard → when taken
	events []leaseEvent
	stats  map[string]float64 // from the final "stopped" line
	// progress holds records_in of each "progress" line, in order.
	progress []float64
	// opsAddr is where the ops endpoint listens (its log line).
	opsAddr string
}

type leaseEvent struct {
	at    time.Time
	shard string
	taken bool
}

func startWorker(t *testing.T, cfgPath, id string, extraEnv ...string) *worker {
	t.Helper()
	w := &worker{id: id, held: map[string]time.Time{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(shardflowBinary(t), "run", "-c", cfgPath, "--worker-id", id, "--log-format", "json")
	w.cmd.Env = append(os.Environ(), extraEnv...)
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), id+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan struct{})
	go func() { // owned by the worker: ends at EOF of its stderr
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			_, _ = logFile.Write(append(sc.Bytes(), '\n'))
			w.observe(sc.Bytes())
		}
	}()
	go func() { <-lines; w.exited <- w.cmd.Wait(); _ = logFile.Close() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("log of %s (last 3000 bytes):\n%s", id, tail(data, 3000))
		}
	})
	return w
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func (w *worker) observe(line []byte) {
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		return
	}
	msg, _ := m["msg"].(string)
	shard, _ := m["shard"].(string)
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	switch msg {
	case "shard lease taken":
		w.held[shard] = now
		w.events = append(w.events, leaseEvent{now, shard, true})
	case "shard released", "shard handed over", "shard finished (SHARD_END)", "shard lease lost; not checkpointing",
		"lease lost: this worker stops processing the shard",
		"lease expired locally (paused or partitioned?): this worker stops processing the shard":
		delete(w.held, shard)
		w.events = append(w.events, leaseEvent{now, shard, false})
	case "ops endpoint":
		w.opsAddr, _ = m["addr"].(string)
	case "progress":
		if n, ok := m["records_in"].(float64); ok {
			w.progress = append(w.progress, n)
		}
	case "stopped":
		w.stats = map[string]float64{}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				w.stats[k] = f
			}
		}
	}
}

func (w *worker) shards() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s []string
	for id := range w.held {
		s = append(s, id)
	}
	sort.Strings(s)
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func (w *worker) lastProgress() (n float64, lines int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.progress) == 0 {
		return -1, 0
	}
	return w.progress[len(w.progress)-1], len(w.progress)
}

// writeConfig writes a worker config file (see stack.yaml).
func (s *stack) writeConfig(t *testing.T, store, sourceExtra string, extra ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(s.yaml(store, sourceExtra, extra...)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.Load(path); err != nil {
		t.Fatalf("config: %v", err)
	}
	return path
}

// TestFailover runs worker processes on an 8-shard stream while events are
// put, with both lease stores (Redis also on the local Redis Cluster): three workers started together balance
// within one (3/3/2); a kill -9 of one is absorbed by the others (4/4)
// within lease time plus a few seconds, after which no lease moves again;
// two more workers join (2/2/2/2); every event is delivered, duplicates only
// from the victim's unacked window; SIGTERM drains every worker in budget;
// a fresh worker then finds nothing to re-read.
func TestFailover(t *testing.T) {
	for _, store := range []string{"redis", "dynamodb", "redis-cluster"} {
		t.Run(store, func(t *testing.T) { testFailover(t, store) })
	}
}

// leaseMoves counts lease events (taken or given up) of workers after at.
func leaseMoves(ws []*worker, at time.Time) int {
	n := 0
	for _, w := range ws {
		w.mu.Lock()
		for _, e := range w.events {
			if e.at.After(at) {
				n++
			}
		}
		w.mu.Unlock()
	}
	return n
}

func testFailover(t *testing.T, store string) {
	const shards, events, rate = 8, 24000, 1200.0
	s := newStack(t, shards)
	if store == "redis-cluster" {
		client, _ := s.env.RedisCluster(t)
		testenv.CleanupClusterKeys(t, client, "sf-"+s.name)
	}
	cfg := s.writeConfig(t, store, "")
	shardflowBinary(t)

	// Put events at a steady rate in the background.
	putDone, want := putAtRate(t, s, workload.Config{Seed: 5, Total: events}, rate)

	workers := []*worker{startWorker(t, cfg, "w1"), startWorker(t, cfg, "w2"), startWorker(t, cfg, "w3")}
	held := func(ws []*worker) (total, lo, hi int) {
		lo = shards
		for _, w := range ws {
			n := len(w.shards())
			total += n
			lo, hi = min(lo, n), max(hi, n)
		}
		return
	}
	balanced := func(ws []*worker, lo, hi int) func() bool {
		return func() bool { n, l, h := held(ws); return n == shards && l >= lo && h <= hi }
	}
	took := waitFor(t, "3/3/2", 30*time.Second, balanced(workers, 2, 3))
	t.Logf("3 workers started together: %v %v %v in %s", workers[0].shards(), workers[1].shards(), workers[2].shards(), took.Round(time.Millisecond))

	victim := workers[0]
	lostShards := victim.shards()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	survivors := workers[1:]
	takeover := waitFor(t, "the victim's shards taken over (4/4)", 60*time.Second, balanced(survivors, 4, 4))
	t.Logf("kill -9 of %s (shards %v): 4/4 %s after the kill (lease duration 4s)", victim.id, lostShards, takeover.Round(time.Millisecond))
	if takeover > 4*time.Second+6*time.Second {
		t.Errorf("takeover took %s, want within lease time (4s) plus a few seconds", takeover)
	}
	settled := time.Now()
	time.Sleep(8 * time.Second) // two lease durations
	if n := leaseMoves(survivors, settled); n != 0 {
		t.Errorf("%d lease events among the survivors after the takeover settled: leases flap", n)
	}

	joiners := []*worker{startWorker(t, cfg, "w4"), startWorker(t, cfg, "w5")}
	four := append(append([]*worker{}, survivors...), joiners...)
	took = waitFor(t, "2/2/2/2 after two workers joined", 30*time.Second, balanced(four, 2, 2))
	t.Logf("two workers joined: 2/2/2/2 in %s", took.Round(time.Millisecond))

	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	res := s.waitDelivered(t, events, 90*time.Second)
	missing := 0
	for id := range want {
		if res.IDs[id] == 0 {
			missing++
		}
	}
	// Only the victim's unacked window may be read twice: what it read
	// after its last checkpoint (checkpoint interval 200 ms, batches in
	// flight, Firehose linger): its share of 2 s of traffic bounds it.
	window := int(rate * 2 * float64(len(lostShards)) / shards)
	t.Logf("%d events put, %d rows delivered, %d distinct, %d missing, %d duplicates (%.2f%%; bound %d)",
		events, res.Rows, len(res.IDs), missing, res.Duplicates(), 100*float64(res.Duplicates())/float64(events), window)
	if missing != 0 {
		t.Fatalf("%d events lost", missing)
	}
	if res.Duplicates() > window {
		t.Errorf("%d duplicates, more than the victim's unacked window (%d): moves other than the kill replayed records", res.Duplicates(), window)
	}

	// SIGTERM every worker: each drains within budget and exits 0.
	for _, w := range four {
		if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	termAt := time.Now()
	for _, w := range four {
		select {
		case err := <-w.exited:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM", w.id, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s still running 20s after SIGTERM (budget 15s)", w.id)
		}
	}
	t.Logf("SIGTERM: all four exited in %s", time.Since(termAt).Round(time.Millisecond))
	before := res.Rows

	// A fresh worker resumes from the checkpoints: nothing to re-read.
	fresh := startWorker(t, cfg, "w6")
	waitFor(t, "the fresh worker to lease all shards", 60*time.Second, func() bool { return len(fresh.shards()) == shards })
	time.Sleep(2 * time.Second)
	_ = fresh.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-fresh.exited; err != nil {
		t.Fatalf("fresh worker exit: %v", err)
	}
	if got := fresh.stats["records_in"]; got != 0 {
		t.Fatalf("fresh worker re-read %v records after a graceful stop; want 0", got)
	}
	if after := s.waitDelivered(t, events, time.Second); after.Rows != before {
		t.Fatalf("rows in S3 went from %d to %d after the fresh worker ran", before, after.Rows)
	}
}

// TestPausedWorkerIsFencedOut freezes a worker (SIGSTOP) past its lease while
// events flow, lets the other worker take its shards, then resumes it: the
// resumed worker learns that its old holdings are gone and hands nothing
// more over under them (any record it did would arrive twice: it had
// checkpointed everything before it froze); it may then rejoin the group
// through ordinary handoffs, with new tokens. Every event arrives exactly
// once.
func TestPausedWorkerIsFencedOut(t *testing.T) {
	const shards = 4
	s := newStack(t, shards)
	cfg := s.writeConfig(t, "redis", "", "progress_log_interval: 300ms")
	shardflowBinary(t)
	w1, w2 := startWorker(t, cfg, "w1"), startWorker(t, cfg, "w2")
	waitFor(t, "both workers to hold shards", 60*time.Second, func() bool {
		return len(w1.shards()) > 0 && len(w2.shards()) > 0 && len(w1.shards())+len(w2.shards()) == shards
	})
	kc := s.env.Kinesis(t)
	const phase1, phase2 = 2000, 2000
	gen := workload.New(workload.Config{Seed: 11, Total: phase1 + phase2})
	if _, err := produce.Put(context.Background(), kc, gen, produce.Options{Stream: s.stream, Count: phase1}); err != nil {
		t.Fatal(err)
	}
	s.waitDelivered(t, phase1, 60*time.Second)
	// w1's count settles once everything it read is delivered; wait for
	// two progress lines in a row with the same value, then one more
	// checkpoint interval.
	var settled float64
	waitFor(t, "w1's count to settle", 30*time.Second, func() bool {
		a, n := w1.lastProgress()
		time.Sleep(700 * time.Millisecond)
		b, m := w1.lastProgress()
		settled = b
		return m > n && a == b && b > 0
	})
	w1Shards := w1.shards()
	if err := w1.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	taken := waitFor(t, "w2 to take every shard", 60*time.Second, func() bool { return len(w2.shards()) == shards })
	t.Logf("w1 (shards %v, %v records handled) frozen; w2 took all shards %s later (lease 4s)", w1Shards, settled, taken.Round(time.Millisecond))

	if _, err := produce.Put(context.Background(), kc, gen, produce.Options{Stream: s.stream, Count: phase2}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(stoppedAt.Add(12 * time.Second))) // frozen well past its lease
	if err := w1.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	res := s.waitDelivered(t, phase1+phase2, 60*time.Second)
	// The resumed w1 rejoins: the group balances again, 2/2, by handoff.
	waitFor(t, "w1 and w2 to hold 2 shards each", 30*time.Second, func() bool {
		return len(w1.shards()) == 2 && len(w2.shards()) == 2
	})
	time.Sleep(3 * time.Second) // give the resumed w1 time to misbehave
	w1.mu.Lock()
	lostAfterResume := map[string]bool{}
	for _, e := range w1.events {
		if !e.taken && e.at.After(stoppedAt) {
			lostAfterResume[e.shard] = true
		}
	}
	w1.mu.Unlock()
	for _, sh := range w1Shards {
		if !lostAfterResume[sh] {
			t.Errorf("resumed w1 never noticed that its lease on %s was gone", sh)
		}
	}
	_ = w1.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-w1.exited; err != nil {
		t.Errorf("w1 exit: %v", err)
	}
	// Every lease is held by w2 now (w1 handed its shards back), each with
	// a token past every earlier holding.
	rc, _ := s.env.Redis(t)
	waitFor(t, "w2 to hold every lease after w1's SIGTERM", 20*time.Second, func() bool { return len(w2.shards()) == shards })
	keys, err := rc.Keys(context.Background(), "sf-"+s.name+":{"+s.name+"}:lease:*").Result()
	if err != nil || len(keys) != shards {
		t.Fatalf("lease keys: %v %v", keys, err)
	}
	for _, k := range keys {
		owner, err := rc.HGet(context.Background(), k, "owner").Result()
		if err != nil || owner != "w2" {
			t.Errorf("%s owner = %q (%v), want w2", k, owner, err)
		}
	}
	res = s.waitDelivered(t, phase1+phase2, time.Second)
	t.Logf("delivered %d rows, %d distinct, %d duplicates", res.Rows, len(res.IDs), res.Duplicates())
	if len(res.IDs) != phase1+phase2 {
		t.Fatalf("%d of %d events delivered", len(res.IDs), phase1+phase2)
	}
	if res.Duplicates() != 0 {
		t.Errorf("%d duplicates: w1 had checkpointed everything before it froze, and every later move was a handoff", res.Duplicates())
	}
}

// TestLeases64ShardsWithDefaults: with the default lease and shard sync
// settings, one worker process holds all 64 shards of a stream within 5 s
// of its start (the KCL took one lease per sync tick: 24.9 s).
func TestLeases64ShardsWithDefaults(t *testing.T) {
	const shards = 64
	s := newStack(t, shards)
	cfg := s.writeConfig(t, "redis", "")
	// Drop the test's fast lease settings: measure the defaults.
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fast := "  lease_duration: 4s\n  shard_sync_interval: 250ms\n"
	if !strings.Contains(string(raw), fast) {
		t.Fatalf("config lacks %q", fast)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(raw), fast, "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	shardflowBinary(t)
	w := startWorker(t, cfg, "solo")
	took := waitFor(t, "64 shards leased", 45*time.Second, func() bool { return len(w.shards()) == shards })
	t.Logf("one worker process leased %d shards in %s with the default lease_duration (%s) and shard_sync_interval (%s)",
		shards, took.Round(time.Millisecond), pipeline.DefaultLeaseDuration, pipeline.DefaultShardSyncInterval)
	if took > 5*time.Second {
		t.Fatalf("leasing %d shards took %s, want ≤ 5s", shards, took)
	}
}

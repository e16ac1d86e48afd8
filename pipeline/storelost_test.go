package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/delivered"
	"github.com/shardflow/shardflow/pipeline"
)

// privateRedis is a redis-server of one test's own on a loopback port, so
// that the test may flush, kill and restart it without touching the
// shared one. With aof it persists every write (appendfsync always).
type privateRedis struct {
	t    *testing.T
	port int
	dir  string
	aof  bool
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivateRedis(t *testing.T, aof bool) *privateRedis {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	r := &privateRedis{t: t, port: port, dir: t.TempDir(), aof: aof}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *privateRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *privateRedis) client() *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	r.t.Cleanup(func() { c.Close() })
	return c
}

// start runs redis-server on r's port and dir (its data, with aof, is what
// the last one left) and waits until it answers.
func (r *privateRedis) start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("redis-server (deploy/local/up installs it): %v", err)
	}
	args := []string{"--port", fmt.Sprint(r.port), "--bind", "127.0.0.1", "--dir", r.dir, "--save", ""}
	if r.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.done) }() // owned by r: ends with the process
	c := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatalf("private redis-server on port %d does not answer", r.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL (nothing flushed that was not yet).
func (r *privateRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
	r.cmd = nil
}

// storeLostConfig is the stack's pipeline on r with a short lease.
func storeLostConfig(t *testing.T, s *stack, r *privateRedis) *pipeline.Config {
	t.Helper()
	cfg := s.config(t)
	cfg.Redis.URL = r.url()
	cfg.Source.LeaseDuration = pipeline.Duration(3 * time.Second)
	return cfg
}

// TestEmptiedLeaseStoreStopsReading: a running pipeline whose Redis
// lease store is emptied — FLUSHALL, or the server restarted without
// persistence — stops reading within one lease duration and is unready
// naming the loss (/healthz stays 200: a restart would read the stream
// again from initial_position, TRIM_HORIZON here); nothing it delivered is
// delivered again, and what is put afterwards waits for the operator.
func TestEmptiedLeaseStoreStopsReading(t *testing.T) {
	for _, how := range []string{"flushall", "restart empty"} {
		t.Run(strings.ReplaceAll(how, " ", "_"), func(t *testing.T) {
			t.Parallel()
			r := startPrivateRedis(t, false)
			s := newStack(t, 2)
			// A window too: after the loss no window row may be emitted
			// with a changed value under a row id already emitted.
			winDelivery := s.name + "-win"
			if err := delivered.CreateDeliveryStream(context.Background(), s.env.Firehose(t), winDelivery, s.env.S3Bucket, time.Second); err != nil {
				t.Fatal(err)
			}
			cfg, err := pipeline.Parse([]byte(s.yaml("redis", "", windowYAML(winDelivery))), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			cfg.Redis.URL = r.url()
			cfg.Source.LeaseDuration = pipeline.Duration(3 * time.Second)
			want := putEvents(t, s, 31, 300)
			p, stop := runPipeline(t, cfg, "w1")
			defer stop()
			s.waitDelivered(t, len(want), 60*time.Second)
			waitFor(t, "window rows emitted before the loss", 60*time.Second, func() bool {
				return len(windowRowsByID(t, s, winDelivery)) > 0
			})
			rowsBefore := windowRowsByID(t, s, winDelivery)
			addr := p.OpsAddr()
			awaitReadyz(t, addr, http.StatusOK, "ready before the loss")

			lostAt := time.Now()
			if how == "flushall" {
				if err := r.client().FlushAll(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
			} else {
				r.kill()
				r.start()
			}
			rep := awaitReadyzWithin(t, addr, http.StatusServiceUnavailable, "unready after the store lost its data", 3*time.Second+2*time.Second)
			took := time.Since(lostAt)
			if took > 3*time.Second {
				t.Errorf("unready %s after the loss; want within one lease duration (3s)", took)
			}
			if f := failing(rep)["source"]; !strings.Contains(f, "lost its data") || !strings.Contains(f, "checkpoints reset") {
				t.Fatalf("source check after the loss = %q; want the loss and the way on named", f)
			}
			waitFor(t, "every shard stopped", 10*time.Second, func() bool { return len(p.OwnedShards()) == 0 })
			t.Logf("%s: unready after %s, shards stopped after %s", how, took.Round(time.Millisecond), time.Since(lostAt).Round(time.Millisecond))
			if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d after the loss (%s); want 200", code, body)
			}
			// Three lease durations: a worker that took the shards again
			// would have read TRIM_HORIZON (and the new events) by now.
			checkStoppedReading(t, p, s, want, 32, 9*time.Second)
			rowsAfter := windowRowsByID(t, s, winDelivery)
			for id, r := range rowsAfter {
				if old, ok := rowsBefore[id]; ok && old != r {
					t.Errorf("window row %s emitted again with a changed value after the loss:\n%+v\n%+v", id, old, r)
				}
			}
			t.Logf("window rows: %d before the loss, %d after", len(rowsBefore), len(rowsAfter))
			keys, err := r.client().Keys(context.Background(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if strings.Contains(k, ":lease:") || strings.HasSuffix(k, ":epoch") {
					t.Errorf("the stopped worker wrote %s to the emptied store", k)
				}
			}
		})
	}
}

// TestRestartedLeaseStoreResumes: a Redis with AOF killed with
// SIGKILL and started again keeps its epoch: the pipeline resumes, every
// event is delivered, and no checkpoint moved backwards.
func TestRestartedLeaseStoreResumes(t *testing.T) {
	t.Parallel()
	r := startPrivateRedis(t, true)
	s := newStack(t, 2)
	want := putEvents(t, s, 33, 300)
	cfg := storeLostConfig(t, s, r)
	p, stop := runPipeline(t, cfg, "w1")
	defer stop()
	s.waitDelivered(t, len(want), 60*time.Second)
	before := checkpointsOf(t, r)
	if len(before) != 2 {
		t.Fatalf("checkpoints before the restart: %v, want 2 shards", before)
	}
	r.kill()
	time.Sleep(time.Second)
	r.start()
	for id := range putEventsDirect(t, s, 34, 200) {
		want[id] = true
	}
	res := s.waitDelivered(t, len(want), 60*time.Second)
	for id := range want {
		if res.IDs[id] == 0 {
			t.Fatalf("event %s not delivered after Redis came back with its data", id)
		}
	}
	awaitReadyz(t, p.OpsAddr(), http.StatusOK, "ready after Redis came back")
	waitFor(t, "checkpoints past the new events", 20*time.Second, func() bool {
		after := checkpointsOf(t, r)
		for shard, seq := range before {
			if flow.CompareSequence(after[shard], seq) < 0 {
				t.Fatalf("checkpoint of %s moved backwards: %s → %s", shard, seq, after[shard])
			}
		}
		moved := 0
		for shard, seq := range before {
			if flow.CompareSequence(seq, after[shard]) < 0 {
				moved++
			}
		}
		return moved > 0
	})
	t.Logf("delivered %d rows for %d events (%d duplicates after the restart)", res.Rows, len(want), res.Duplicates())
}

// checkpointsOf reads the stored checkpoint of every shard (shard → seq).
func checkpointsOf(t *testing.T, r *privateRedis) map[string]string {
	t.Helper()
	c := r.client()
	keys, err := c.Keys(context.Background(), "*:lease:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		seq, err := c.HGet(context.Background(), k, "checkpoint").Result()
		if err == nil {
			out[filepath.Base(strings.ReplaceAll(k, ":lease:", "/"))] = seq
		}
	}
	return out
}

// TestStaleLeaseStoreStopsReading: the lease store goes back to an older
// snapshot of itself (a replica that had not caught up promoted, a backup
// restored over a live store): the epoch is the one bound, but a lease's
// fencing token is lower than the running worker saw. The worker stops
// reading as for an emptied store, instead of taking its shards again from
// the older checkpoints (which would deliver again what it delivered
// since the snapshot).
func TestStaleLeaseStoreStopsReading(t *testing.T) {
	r := startPrivateRedis(t, false)
	s := newStack(t, 2)
	cfg := storeLostConfig(t, s, r)
	first := putEvents(t, s, 41, 200)
	_, stop1 := runPipeline(t, cfg, "w1")
	s.waitDelivered(t, len(first), 60*time.Second)
	ctx := context.Background()
	admin := r.client()
	before, err := admin.LastSave(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.BgSave(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the snapshot written", 10*time.Second, func() bool {
		n, err := admin.LastSave(ctx).Result()
		return err == nil && n != before
	})
	stop1() // hands the leases back: the next worker's tokens are higher

	p, stop2 := runPipeline(t, cfg, "w2")
	defer stop2()
	waitFor(t, "w2 holds both shards", 20*time.Second, func() bool { return len(p.OwnedShards()) == 2 })
	second := putEventsDirect(t, s, 42, 200)
	res := s.waitDelivered(t, len(first)+len(second), 60*time.Second)
	awaitReadyz(t, p.OpsAddr(), http.StatusOK, "w2 ready")

	// The store goes back to the snapshot: tokens 1, checkpoints older.
	r.kill()
	r.start()
	lostAt := time.Now()
	rep := awaitReadyzWithin(t, p.OpsAddr(), http.StatusServiceUnavailable, "unready after the store went back", 5*time.Second)
	if f := failing(rep)["source"]; !strings.Contains(f, "lost its data") || !strings.Contains(f, "token went back") {
		t.Fatalf("source check = %q; want the loss and the token named", f)
	}
	waitFor(t, "every shard stopped", 10*time.Second, func() bool { return len(p.OwnedShards()) == 0 })
	t.Logf("unready %s after the store went back to its snapshot", time.Since(lostAt).Round(time.Millisecond))
	readBefore := p.Counters().RecordsIn
	time.Sleep(6 * time.Second) // two lease durations
	if n := p.Counters().RecordsIn; n != readBefore {
		t.Errorf("records read after the store went back: %d → %d", readBefore, n)
	}
	all := map[string]bool{}
	for id := range first {
		all[id] = true
	}
	for id := range second {
		all[id] = true
	}
	_ = res
	checkExactlyOnce(t, s.waitDelivered(t, len(all), time.Second), all)
}

// windowRowsByID reads windowYAML's rows from S3, by row id; a row id
// delivered twice with different values fails the test.
func windowRowsByID(t *testing.T, s *stack, winDelivery string) map[string]windowRow {
	t.Helper()
	res, err := delivered.Collect(context.Background(), s.env.S3(t), s.env.S3Bucket, winDelivery+"/", "row_id", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]windowRow{}
	for _, line := range res.Sample {
		var r windowRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("window row %q: %v", line, err)
		}
		if old, ok := out[r.RowID]; ok && old != r {
			t.Fatalf("window row %s delivered with different values:\n%+v\n%+v", r.RowID, old, r)
		}
		out[r.RowID] = r
	}
	return out
}

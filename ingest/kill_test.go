package ingest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardflow/shardflow/ingest/state"
	"github.com/shardflow/shardflow/internal/testenv"
)

// buildBinary builds cmd/shardflow once per test binary.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func shardflowBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shardflow-agent-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "shardflow")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "github.com/shardflow/shardflow/cmd/shardflow").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentProcess is `shardflow agent` running as its own process.
type agentProcess struct {
	cmd     *exec.Cmd
	metrics string
	done    chan error
}

func startProcess(t *testing.T, bin, config, logPath string) *agentProcess {
	t.Helper()
	addr := freePort(t)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "-c", config, "--metrics", addr, "--progress", "never")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProcess{cmd: cmd, metrics: "http://" + addr + "/metrics", done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// recordsPut scrapes shardflow_agent_records_put_total (-1 when the
// endpoint does not answer yet).
func (p *agentProcess) recordsPut() int64 {
	resp, err := http.Get(p.metrics)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "shardflow_agent_records_put_total{") {
			v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			return int64(v)
		}
	}
	return -1
}

// kill sends SIGKILL: no drain, no last checkpoint.
func (p *agentProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil // for the cleanup
}

// stop sends SIGTERM and waits for a clean exit.
func (p *agentProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- nil
		if err != nil {
			t.Fatalf("agent exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop within 30s of SIGTERM")
	}
}

// delivered reports whether the checkpoint covers every byte of every file
// in dir matching the glob.
func checkpointCovers(t *testing.T, stateFile, glob string) bool {
	t.Helper()
	s, err := state.Open(stateFile)
	if err != nil {
		return false
	}
	byInode := map[uint64]int64{}
	for _, e := range s.Take("app") {
		if e.Offset > byInode[e.Inode] {
			byInode[e.Inode] = e.Offset
		}
	}
	paths, _ := filepath.Glob(glob)
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		if byInode[fi.Sys().(*syscall.Stat_t).Ino] != fi.Size() {
			return false
		}
	}
	return len(paths) > 0
}

// TestAgentSurvivesKill9 is the agent's delivery guarantee end to end, with
// the real binary: N lines are written across files rotated by rename and by
// copytruncate (also while the agent is down) while the agent is killed
// with SIGKILL twice and restarted. Every line must arrive; a line may
// arrive twice only when it was in flight (sent, not yet checkpointed) at a
// kill, which bounds the duplicates by what can be in flight.
func TestAgentSurvivesKill9(t *testing.T) {
	env := testenv.Load(t)
	kc := env.Kinesis(t)
	stream := testenv.UniqueName(t, "agent-kill")
	testenv.CreateStream(t, kc, stream, 2)
	bin := shardflowBinary(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "app.log")
	const maxRecords, maxInFlight = 100, 2
	config := filepath.Join(dir, "agent.yaml")
	stateFile := filepath.Join(dir, "state", "agent.json")
	yaml := agentYAML(env, dir, fmt.Sprintf(`
  - name: app
    files: [%q]
    kinesis_stream: %s
    discover_interval: 50ms
    poll_interval: 10ms
    close_inactive: 500ms
    max_in_flight: %d
    batch: {linger: 20ms, max_records: %d}
`, log+"*", stream, maxInFlight, maxRecords))
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(dir, "agent.log")

	const n = 12000
	var want []string
	var writeErr error
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f := func(from, to int) {
			var sb strings.Builder
			for i := from; i < to; i++ {
				l := lineOf("k", i)
				want = append(want, l)
				sb.WriteString(l + "\n")
			}
			fh, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				writeErr = err
				return
			}
			fh.WriteString(sb.String())
			fh.Close()
		}
		for i := 0; i < n; i += 200 {
			f(i, i+200)
			switch i {
			case 2800:
				os.Rename(log, log+".1") // rotation by rename
			case 5800:
				data, _ := os.ReadFile(log) // rotation by copytruncate
				os.WriteFile(log+".2", data, 0o644)
				os.Truncate(log, 0)
			case 8800:
				os.Rename(log, log+".3")
			}
			time.Sleep(40 * time.Millisecond)
		}
	}()

	p := startProcess(t, bin, config, agentLog)
	kills := 0
	for _, threshold := range []int64{2500, 3000} {
		waitFor(t, 60*time.Second, fmt.Sprintf("%d records put before kill %d", threshold, kills+1), func() bool { return p.recordsPut() >= threshold })
		p.kill(t)
		kills++
		time.Sleep(300 * time.Millisecond) // the writer goes on, and may rotate, while the agent is down
		p = startProcess(t, bin, config, agentLog)
	}
	<-writerDone
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	waitFor(t, 90*time.Second, "the checkpoint to cover every file", func() bool { return checkpointCovers(t, stateFile, log+"*") })
	p.stop(t)

	got := streamData(t, kc, stream)
	c := tally(got, want)
	// Per kill: each put worker has at most one call sent and not yet in
	// the checkpoint (it waits until the checkpoint covers its call before
	// the next), of at most maxRecords records; one more call when a
	// worker's wait ran out (1 s) on the loaded machine. kinesalite fails no
	// record, so nothing is resent behind a stuck call.
	maxDups := kills * (maxInFlight + 1) * maxRecords
	if testing.Verbose() {
		logText, _ := os.ReadFile(agentLog)
		for _, l := range strings.Split(string(logText), "\n") {
			if strings.Contains(l, "reading file") || strings.Contains(l, "truncated") || strings.Contains(l, "copy") {
				t.Log(l)
			}
		}
	}
	t.Logf("%d lines written, %d records in the stream: %d missing, %d duplicates after %d kills (bound %d), e.g. %q",
		len(want), len(got), c.missing, c.dups, kills, maxDups, c.twice)
	if c.missing != 0 || c.extra != 0 {
		logText, _ := os.ReadFile(agentLog)
		t.Fatalf("%d lines lost, %d unexpected records\nagent log:\n%s", c.missing, c.extra, tailText(string(logText), 40))
	}
	if c.dups > maxDups {
		t.Fatalf("%d duplicates, more than can be in flight at %d kills (%d)", c.dups, kills, maxDups)
	}
	thrice := 0
	seen := map[string]int{}
	for _, g := range got {
		if seen[g]++; seen[g] > 2 {
			thrice++
		}
	}
	if thrice > 0 {
		t.Fatalf("%d records arrived three times or more", thrice)
	}
	// The checkpoint file is valid JSON throughout (it is replaced
	// atomically); the last one lists every file.
	raw, err := os.ReadFile(stateFile)
	if err != nil || !json.Valid(raw) {
		t.Fatalf("checkpoint file: %v\n%s", err, raw)
	}
}

func tailText(s string, lines int) string {
	parts := strings.Split(strings.TrimSpace(s), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

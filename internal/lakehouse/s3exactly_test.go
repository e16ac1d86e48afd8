package lakehouse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/shardflow").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// worker is one `shardflow run` process; its JSON log tells which shards
// it holds.
type worker struct {
	id     string
	cmd    *exec.Cmd
	exited chan error

	mu   sync.Mutex
	held map[string]bool
}

func startWorker(t *testing.T, cfgPath, id string) *worker {
	t.Helper()
	w := &worker{id: id, held: map[string]bool{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(shardflowBinary(t), "run", "-c", cfgPath, "--worker-id", id, "--log-format", "json")
	stderr, err := w.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), id+".log")
	logFile, err := os.Create(logPath)
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
			var m struct{ Msg, Shard string }
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			w.mu.Lock()
			switch m.Msg {
			case "shard lease taken":
				w.held[m.Shard] = true
			case "shard released", "shard finished (SHARD_END)", "shard lease lost; not checkpointing",
				"lease lost: this worker stops processing the shard":
				delete(w.held, m.Shard)
			}
			w.mu.Unlock()
		}
	}()
	go func() { <-lines; w.exited <- w.cmd.Wait(); _ = logFile.Close() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			if len(data) > 4000 {
				data = data[len(data)-4000:]
			}
			t.Logf("log of %s (tail):\n%s", id, data)
		}
	})
	return w
}

func (w *worker) shards() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// putLog is a reverse proxy in front of s3-local that records the ETag S3
// answered for every PutObject, by key: an object written twice must have
// been written with the same bytes.
type putLog struct {
	mu    sync.Mutex
	etags map[string][]string
}

func newPutLog(t *testing.T, target string) (*putLog, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l := &putLog{etags: map[string][]string{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if r.Method == http.MethodPut && !r.URL.Query().Has("uploadId") && resp.StatusCode == http.StatusOK {
			l.mu.Lock()
			l.etags[r.URL.Path] = append(l.etags[r.URL.Path], resp.Header.Get("ETag"))
			l.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return l, srv.URL
}

// TestExactlyOnceS3UnderKill9 runs two `shardflow run` workers on a
// 4-shard stream with the exactly-once Parquet output while events are put
// at a steady rate, and kills a worker with SIGKILL three times (each time
// a new worker takes its place). DuckDB then reads the bucket: every event
// exactly once, with the right types and aggregates; every object that was
// written more than once was written with the same bytes (same ETag). The
// README's Athena and Redshift statements are checked against the result.
func TestExactlyOnceS3UnderKill9(t *testing.T) {
	const shards, events, rate = 4, 16000, 800.0
	env := testenv.Load(t)
	name := testenv.UniqueName(t, "lh")
	stream := name + "-in"
	testenv.CreateStream(t, env.Kinesis(t), stream, shards)
	puts, s3URL := newPutLog(t, env.S3Endpoint)
	prefix := name + "/events/"
	cfgPath := filepath.Join(t.TempDir(), "pipeline.yaml")
	cfg := fmt.Sprintf(`
name: %s
aws:
  region: %s
  endpoints: {kinesis: %s, dynamodb: %s, s3: %s}
redis: {url: "%s", key_prefix: "sf-%s"}
source:
  stream: %s
  lease_duration: 4s
  shard_sync_interval: 250ms
  idle_time_between_reads: 200ms
  checkpoint_interval: 200ms
  max_in_flight_batches: 64
schema:
  - {name: event_id, type: string}
  - {name: user_id, type: string}
  - {name: page, type: string}
  - {name: country, type: string}
  - {name: ts, type: timestamp}
  - {name: price, type: float64}
  - {name: user_agent, type: string, nullable: true}
outputs:
  - name: lake
    s3: {bucket: %s, prefix: %s, roll_records: 400, roll_interval: 3s}
dead_letter:
  file: %s
shutdown_timeout: 15s
ops: {listen: "127.0.0.1:0"}
`, name, env.Region, env.KinesisEndpoint, env.DynamoDBEndpoint, s3URL, env.RedisURL, name, stream,
		env.S3Bucket, prefix, filepath.Join(t.TempDir(), "dead.ndjson"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	shardflowBinary(t)

	want := map[string]bool{}
	var wantCents int64
	wantByCountry := map[string]int64{}
	gen := workload.New(workload.Config{Seed: 19, Total: events})
	for range events {
		e := gen.Next()
		want[e.ID()] = true
		wantCents += int64(math.Round(e.Price * 100))
		wantByCountry[e.Country]++
	}
	putDone := make(chan error, 1)
	go func() {
		_, err := produce.Put(context.Background(), env.Kinesis(t), workload.New(workload.Config{Seed: 19, Total: events}),
			produce.Options{Stream: stream, Count: events, Rate: rate})
		putDone <- err
	}()

	workers := []*worker{startWorker(t, cfgPath, "w1"), startWorker(t, cfgPath, "w2")}
	waitFor(t, "all shards leased", 60*time.Second, func() bool { return workers[0].shards()+workers[1].shards() == shards })
	for k := range 3 {
		time.Sleep(4 * time.Second)
		victim := workers[k%2]
		if victim.shards() == 0 {
			victim = workers[(k+1)%2]
		}
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.exited
		repl := startWorker(t, cfgPath, fmt.Sprintf("w%d", 3+k))
		for i, w := range workers {
			if w == victim {
				workers[i] = repl
			}
		}
		t.Logf("kill -9 #%d of %s (%d shards); %s started", k+1, victim.id, victim.shards(), repl.id)
	}
	if err := <-putDone; err != nil {
		t.Fatal(err)
	}

	s3c := env.S3(t)
	db := openDuckDB(t)
	var dir string
	count := func() (rows, distinct int64) {
		dir = t.TempDir()
		mirror(t, s3c, env.S3Bucket, prefix, dir)
		if matches, _ := filepath.Glob(filepath.Join(dir, "dt=*", "hr=*", "*.parquet")); len(matches) == 0 {
			return 0, 0
		}
		queryRow(t, db, "SELECT count(*), count(DISTINCT event_id) FROM "+lakeScan(dir), &rows, &distinct)
		return rows, distinct
	}
	var rows, distinct int64
	waitFor(t, "every event in the bucket", 120*time.Second, func() bool {
		rows, distinct = count()
		return distinct >= events
	})
	for _, w := range workers {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range workers {
		select {
		case err := <-w.exited:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM", w.id, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still running 30s after SIGTERM", w.id)
		}
	}
	rows, distinct = count()

	types := columnTypes(t, db, "SELECT * FROM "+lakeScan(dir))
	for col, typ := range map[string]string{"event_id": "VARCHAR", "ts": "TIMESTAMP WITH TIME ZONE", "price": "DOUBLE", "dt": "DATE", "hr": "BIGINT"} {
		if types[col] != typ {
			t.Errorf("DuckDB reads %s as %q, want %s (all: %v)", col, types[col], typ, types)
		}
	}
	var cents, unknown int64
	queryRow(t, db, "SELECT sum(CAST(round(price * 100) AS BIGINT)) FROM "+lakeScan(dir), &cents)
	byCountry := map[string]int64{}
	res, err := db.Query("SELECT country, count(*) FROM " + lakeScan(dir) + " GROUP BY country")
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		var c string
		var n int64
		if err := res.Scan(&c, &n); err != nil {
			t.Fatal(err)
		}
		byCountry[c] = n
	}
	res.Close()
	ids, err := db.Query("SELECT DISTINCT event_id FROM " + lakeScan(dir))
	if err != nil {
		t.Fatal(err)
	}
	for ids.Next() {
		var id string
		if err := ids.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !want[id] {
			unknown++
		}
	}
	ids.Close()

	// Every object written more than once got the same bytes.
	rewritten, differing := 0, 0
	puts.mu.Lock()
	for key, etags := range puts.etags {
		if !strings.Contains(key, "/dt=") || len(etags) < 2 {
			continue
		}
		rewritten++
		for _, e := range etags[1:] {
			if e != etags[0] {
				differing++
				t.Errorf("%s written %d times with different bytes: ETags %v", key, len(etags), etags)
				break
			}
		}
	}
	puts.mu.Unlock()
	objects, listed := checkManifests(t, dir)
	t.Logf("DuckDB: %d rows, %d distinct of %d events, %d unknown; %d objects (%d listed by manifests); %d objects written twice or more, %d with different bytes",
		rows, distinct, events, unknown, objects, listed, rewritten, differing)
	if rows != events || distinct != events || unknown != 0 {
		t.Fatalf("want exactly %d rows, one per event: %d rows, %d distinct, %d unknown (%d duplicates)", events, rows, distinct, unknown, rows-distinct)
	}
	if cents != wantCents {
		t.Errorf("sum(price) = %d cents, want %d", cents, wantCents)
	}
	for c, n := range wantByCountry {
		if byCountry[c] != n {
			t.Errorf("country %s: %d rows, want %d", c, byCountry[c], n)
		}
	}
	if objects != listed {
		t.Errorf("%d data objects, %d listed by manifests", objects, listed)
	}
	checkReadmeStatements(t, env, db, dir, events)
}

// lakeScan is the DuckDB table function over a mirrored output.
func lakeScan(dir string) string {
	return "read_parquet(" + sqlString(filepath.Join(dir, "**", "*.parquet")) + ", hive_partitioning = true)"
}

// checkManifests: every data object under dir is listed by exactly one
// segment manifest, with its size. It returns the counts.
func checkManifests(t *testing.T, dir string) (objects, listed int) {
	t.Helper()
	data := map[string]int64{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data[filepath.ToSlash(rel)] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "_shardflow", "manifests", "*", "*.json"))
	seen := map[string]int{}
	for _, m := range manifests {
		body, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var man struct {
			Entries []struct {
				URL  string
				Meta struct {
					ContentLength int64 `json:"content_length"`
				}
			}
		}
		if err := json.Unmarshal(body, &man); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		for _, e := range man.Entries {
			key := e.URL[strings.Index(e.URL, "/dt=")+1:]
			if size, ok := data[key]; !ok || size != e.Meta.ContentLength {
				t.Errorf("manifest %s lists %s (%d bytes): present %v, %d bytes", filepath.Base(m), key, e.Meta.ContentLength, ok, size)
			}
			seen[key]++
		}
	}
	var twice []string
	for key, n := range seen {
		if n > 1 {
			twice = append(twice, key)
		}
	}
	sort.Strings(twice)
	if len(twice) > 0 {
		t.Errorf("listed by more than one manifest: %v", twice)
	}
	return len(data), len(seen)
}

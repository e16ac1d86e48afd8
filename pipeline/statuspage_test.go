package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/bench/workload"
	"github.com/shardflow/shardflow/internal/produce"
	"github.com/shardflow/shardflow/internal/statuspage"
	"github.com/shardflow/shardflow/internal/testenv"
)

// chromium runs headless Chromium on url with the given mode flags
// (--dump-dom, --screenshot=...) and returns its standard output. Virtual
// time lets the page's script fetch /status.json and render before the dump.
func chromium(t *testing.T, url string, mode ...string) []byte {
	t.Helper()
	bin := testenv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000",
	}, mode...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(mode, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// statusJSON fetches the status page's data.
func statusJSON(t *testing.T, addr string) statuspage.Status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/status.json")
	if err != nil {
		t.Fatalf("GET /status.json: %v", err)
	}
	defer resp.Body.Close()
	var st statuspage.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status.json: %s: %v", resp.Status, err)
	}
	return st
}

// domValue returns the data-value of the element with the given id in a
// dumped DOM.
func domValue(t *testing.T, dom, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*data-value="([^"]*)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("rendered page has no #%s with a data-value", id)
	}
	return m[1]
}

// TestStatusPageInBrowser runs a pipeline on the local stack, lets records
// flow, and loads the ops endpoint's status page in headless Chromium: the
// rendered DOM must show the live numbers (the pipeline's own counters, the
// shards it holds, the dead letters by reason, readiness), and a screenshot
// must be a real picture of it.
func TestStatusPageInBrowser(t *testing.T) {
	const events, malformed = 1200, 4
	s := newStack(t, 2)
	gen := workload.New(workload.Config{Seed: 11, Total: events})
	if _, err := produce.Put(context.Background(), s.env.Kinesis(t), gen, produce.Options{
		Stream: s.stream, Count: events + malformed, Malformed: malformed,
	}); err != nil {
		t.Fatal(err)
	}
	p, stop := runPipeline(t, s.config(t), "status-w1")
	// Reading the counters first also orders this goroutine after Run's
	// start of the ops endpoint, which OpsAddr reads.
	waitFor(t, "every record read", 90*time.Second, func() bool { return p.Counters().RecordsIn == events+malformed })
	addr := p.OpsAddr()
	waitFor(t, "every record acked", 30*time.Second, func() bool {
		st := statusJSON(t, addr)
		return st.Totals.RecordsAcked == events+malformed && st.Totals.LeasesHeld == 2
	})
	st := statusJSON(t, addr)
	c := p.Counters()
	if c.RecordsIn != events+malformed || st.Totals.RecordsRead != c.RecordsIn {
		t.Fatalf("records: pipeline counted %d, status page %d; want %d", c.RecordsIn, st.Totals.RecordsRead, events+malformed)
	}

	dom := string(chromium(t, "http://"+addr+"/", "--dump-dom"))
	if !strings.Contains(dom, `data-loaded="true"`) {
		t.Fatalf("the page's script never rendered /status.json:\n%s", dom)
	}
	for id, want := range map[string]int64{
		"total-records-read":  c.RecordsIn,
		"total-records-acked": events + malformed,
		"total-leases-held":   2,
		"total-dead-letters":  c.DeadLetters,
	} {
		if got := domValue(t, dom, id); got != strconv.FormatInt(want, 10) {
			t.Errorf("rendered #%s = %s, want %d", id, got, want)
		}
	}
	if got := domValue(t, dom, "ready-badge"); got != "ready" {
		t.Errorf("rendered readiness = %q, want ready", got)
	}
	owned := p.OwnedShards()
	if len(owned) != 2 {
		t.Fatalf("pipeline holds %d shards, want 2", len(owned))
	}
	var sumRead int64
	for _, id := range owned {
		m := regexp.MustCompile(`(?s)<tr data-shard="` + regexp.QuoteMeta(id) + `" class="held">(.*?)</tr>`).FindStringSubmatch(dom)
		if m == nil {
			t.Errorf("rendered page has no held row for shard %s", id)
			continue
		}
		row := m[1]
		// both charts drawn, with a line for the buckets that had reads
		if n := strings.Count(row, `<svg`); n != 2 || !strings.Contains(row, `class="line"`) {
			t.Errorf("shard %s row has %d charts (want 2, with a line): %s", id, n, row)
		}
		read := regexp.MustCompile(`class="num read" data-value="(\d+)"`).FindStringSubmatch(row)
		if read == nil {
			t.Errorf("shard %s row has no records-read cell: %s", id, row)
			continue
		}
		n, _ := strconv.ParseInt(read[1], 10, 64)
		if n == 0 {
			t.Errorf("shard %s shows 0 records read", id)
		}
		sumRead += n
	}
	if sumRead != c.RecordsIn {
		t.Errorf("shard rows add up to %d records read, want %d", sumRead, c.RecordsIn)
	}
	if !regexp.MustCompile(`<tr data-reason="invalid_json">.*?data-value="` + strconv.Itoa(malformed) + `"`).MatchString(dom) {
		t.Errorf("rendered dead letters lack invalid_json = %d", malformed)
	}
	for _, check := range []string{"draining", "outputs", "redis", "firehose_endpoint"} {
		if !strings.Contains(dom, fmt.Sprintf(`<tr data-check="%s" class="ok">`, check)) {
			t.Errorf("rendered readiness lacks passing check %q", check)
		}
	}
	if !strings.Contains(dom, `<tr data-output="s3">`) || !strings.Contains(dom, `<tr data-stream="`+s.delivery+`">`) {
		t.Errorf("rendered outputs lack output s3 or delivery stream %s", s.delivery)
	}

	// The screenshot: a PNG of the window's size that is not blank.
	shot := filepath.Join(t.ArtifactDir(), "status.png")
	chromium(t, "http://"+addr+"/", "--window-size=1280,1000", "--screenshot="+shot)
	checkScreenshot(t, shot, 1280, 1000)
	t.Logf("screenshot: %s", shot)
	stop()
}

// checkScreenshot fails unless path is a w×h PNG with the variety of a
// rendered page (text, tiles, charts), not an empty or error page.
func checkScreenshot(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, w, h) {
		t.Fatalf("screenshot is %v, want %dx%d", b, w, h)
	}
	colors := map[[3]uint32]int{}
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	top := 0
	for _, n := range colors {
		top = max(top, n)
	}
	total := (w / 2) * (h / 2)
	t.Logf("screenshot: %d distinct colours, the commonest covers %d%%", len(colors), 100*top/total)
	if len(colors) < 50 || top > total*95/100 {
		t.Fatalf("screenshot looks blank: %d distinct colours, the commonest covers %d%%", len(colors), 100*top/total)
	}
}

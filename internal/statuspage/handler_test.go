package statuspage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shardflow/shardflow/internal/opsserver"
)

func fetch(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// TestHandlerMountedOnOpsServer mounts the page as the ops server's "/":
// the page, its assets and its data are served, the server's own routes
// still win, and unknown paths are 404.
func TestHandlerMountedOnOpsServer(t *testing.T) {
	c := New(Options{Pipeline: "clicks", Worker: "w1"})
	c.LeaseGained("shardId-000000000000")
	c.RecordsRead("shardId-000000000000", 42, 4200, 1500)
	c.DeadLetter("invalid_json: x", 3)

	var failing atomic.Bool
	failing.Store(true)
	ops := opsserver.New(opsserver.Options{
		Metrics:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics\n") }),
		CacheTTL: -1,
		Checks: []opsserver.Check{opsserver.FuncCheck("outputs", func() error {
			if failing.Load() {
				return errors.New("firehose: gave up")
			}
			return nil
		})},
	})
	ops.Handle("/", Handler(c, ops.Readiness))
	srv := httptest.NewServer(ops.Handler())
	t.Cleanup(srv.Close)

	for _, path := range []string{"/", "/status"} {
		code, hdr, body := fetch(t, srv.URL+path)
		if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `src="static/app.js"`) {
			t.Errorf("GET %s = %d %s, want the HTML page", path, code, hdr.Get("Content-Type"))
		}
	}
	for path, want := range map[string]string{"/static/app.js": "status.json", "/static/style.css": ".chart"} {
		if code, _, body := fetch(t, srv.URL+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d, body without %q", path, code, want)
		}
	}
	if code, _, body := fetch(t, srv.URL+"/metrics"); code != http.StatusOK || body != "metrics\n" {
		t.Errorf("/metrics = %d %q: the status page shadowed it", code, body)
	}
	if code, _, _ := fetch(t, srv.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}

	status := func() Status {
		t.Helper()
		code, hdr, body := fetch(t, srv.URL+"/status.json")
		if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("/status.json = %d %s", code, hdr.Get("Content-Type"))
		}
		var st Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status.json: %v\n%s", err, body)
		}
		return st
	}
	st := status()
	if st.Pipeline != "clicks" || st.Worker != "w1" || st.Totals.RecordsRead != 42 || st.Totals.LeasesHeld != 1 ||
		len(st.Shards) != 1 || st.Shards[0].MillisBehind != 1500 || st.Totals.DeadLetters != 3 {
		t.Errorf("status %+v", st.Snapshot)
	}
	if st.Readiness == nil || st.Readiness.Ready() || len(st.Readiness.Checks) != 1 ||
		st.Readiness.Checks[0].Error != "firehose: gave up" {
		t.Errorf("readiness %+v, want unready with the outputs check's error", st.Readiness)
	}
	failing.Store(false)
	if st := status(); st.Readiness == nil || !st.Readiness.Ready() {
		t.Errorf("readiness %+v, want ready", st.Readiness)
	}
}

func TestHandlerReadinessError(t *testing.T) {
	h := Handler(New(Options{}), func(context.Context) (opsserver.Report, error) {
		return opsserver.Report{}, context.DeadlineExceeded
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status.json", nil))
	var st Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("/status.json = %d %q: %v", rec.Code, rec.Body, err)
	}
	if st.Readiness != nil || !strings.Contains(st.ReadinessError, "deadline exceeded") {
		t.Errorf("readiness %+v, error %q", st.Readiness, st.ReadinessError)
	}
}

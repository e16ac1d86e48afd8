package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// KinesisGate is an HTTP proxy in front of a Kinesis endpoint (kinesalite)
// that can hold the GetRecords calls of chosen shards: the shard's reader
// stalls — a slow GetRecords that answers only once the gate opens —
// while the rest of the stream flows, through the real client and server.
// It learns which shard an iterator belongs to from the GetShardIterator
// and GetRecords answers it forwards. Create it with NewKinesisGate; it is
// closed at cleanup (held calls are let through first).
type KinesisGate struct {
	tb     testing.TB
	target string
	srv    *httptest.Server
	client *http.Client
	held   atomic.Int64 // GetRecords calls that waited at a closed gate

	mu    sync.Mutex
	iters map[string]string        // shard iterator → shard
	gates map[string]chan struct{} // held shard → closed when it opens
}

// NewKinesisGate starts a gate in front of endpoint (e.g.
// http://127.0.0.1:4567).
func NewKinesisGate(tb testing.TB, endpoint string) *KinesisGate {
	tb.Helper()
	g := &KinesisGate{tb: tb, target: strings.TrimRight(endpoint, "/"), client: &http.Client{},
		iters: map[string]string{}, gates: map[string]chan struct{}{}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	tb.Cleanup(func() {
		g.mu.Lock()
		for shard, c := range g.gates {
			close(c)
			delete(g.gates, shard)
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

// URL is the endpoint to give the client instead of the real one.
func (g *KinesisGate) URL() string { return g.srv.URL }

// Hold makes the shard's GetRecords calls wait until Release.
func (g *KinesisGate) Hold(shard string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.gates[shard]; !ok {
		g.gates[shard] = make(chan struct{})
	}
}

// Release lets the shard's held and later GetRecords calls through.
func (g *KinesisGate) Release(shard string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.gates[shard]; ok {
		close(c)
		delete(g.gates, shard)
	}
}

// HeldCalls is how many GetRecords calls waited at a closed gate so far.
func (g *KinesisGate) HeldCalls() int64 { return g.held.Load() }

func (g *KinesisGate) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	var in struct{ ShardId, ShardIterator string }
	_ = json.Unmarshal(body, &in)
	shard := in.ShardId
	if op == "GetRecords" {
		g.mu.Lock()
		shard = g.iters[in.ShardIterator]
		gate := g.gates[shard]
		g.mu.Unlock()
		if gate != nil {
			g.held.Add(1)
			select {
			case <-gate:
			case <-r.Context().Done():
				return // the client gave up
			}
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, g.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := g.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if shard != "" && resp.StatusCode == http.StatusOK && (op == "GetShardIterator" || op == "GetRecords") {
		var o struct{ ShardIterator, NextShardIterator string }
		if json.Unmarshal(out, &o) == nil {
			g.mu.Lock()
			if op == "GetRecords" {
				delete(g.iters, in.ShardIterator) // answered: the next one takes over
			}
			for _, it := range []string{o.ShardIterator, o.NextShardIterator} {
				if it != "" {
					g.iters[it] = shard
				}
			}
			g.mu.Unlock()
		}
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

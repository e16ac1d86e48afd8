package metrics_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardflow/shardflow/metrics"
)

// recorder logs every hook call, for checking fan-out.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) log(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
}

func (r *recorder) RecordsRead(shard string, records, bytes int, behind int64) {
	r.log("RecordsRead %s %d %d %d", shard, records, bytes, behind)
}
func (r *recorder) BatchAcked(shard string, records int, latency time.Duration, err error) {
	r.log("BatchAcked %s %d %v %v", shard, records, latency, err)
}
func (r *recorder) Checkpointed(shard string, lag time.Duration) {
	r.log("Checkpointed %s %v", shard, lag)
}
func (r *recorder) LeaseGained(shard string)        { r.log("LeaseGained %s", shard) }
func (r *recorder) LeaseLost(shard, reason string)  { r.log("LeaseLost %s %s", shard, reason) }
func (r *recorder) RowsOut(output string, rows int) { r.log("RowsOut %s %d", output, rows) }
func (r *recorder) FirehoseCall(stream string, c metrics.FirehoseCall) {
	r.log("FirehoseCall %s %d %d %d %d %d %v %v", stream, c.Records, c.PayloadBytes, c.FailedRecords, c.BilledBytes, c.Attempt, c.Latency, c.Err)
}
func (r *recorder) DeadLetter(reason string, n int) { r.log("DeadLetter %s %d", reason, n) }
func (r *recorder) InputSkipped(reason string, n int) {
	r.log("InputSkipped %s %d", reason, n)
}
func (r *recorder) RedisCall(op string, latency time.Duration, err error) {
	r.log("RedisCall %s %v %v", op, latency, err)
}
func (r *recorder) WindowFlush(op string, keys int) { r.log("WindowFlush %s %d", op, keys) }
func (r *recorder) WindowEmit(op string, rows int)  { r.log("WindowEmit %s %d", op, rows) }
func (r *recorder) LateRows(op string, n int, action string) {
	r.log("LateRows %s %d %s", op, n, action)
}
func (r *recorder) LeaseAcquired(shard, how string) { r.log("LeaseAcquired %s %s", shard, how) }
func (r *recorder) LeaseGroup(ws []metrics.WorkerLeases, balance float64) {
	r.log("LeaseGroup %v %.2f", ws, balance)
}
func (r *recorder) SourceError(api, code string) { r.log("SourceError %s %s", api, code) }
func (r *recorder) WindowProgress(op string, wm, emitted time.Time) {
	r.log("WindowProgress %s %d %d", op, wm.Unix(), emitted.Unix())
}
func (r *recorder) WindowHeld(op, shard, reason string) {
	r.log("WindowHeld %s %s %s", op, shard, reason)
}
func (r *recorder) S3Upload(output string, u metrics.S3Upload) {
	r.log("S3Upload %s %d %d %d %v", output, u.Rows, u.Bytes, u.Parts, u.Err)
}
func (r *recorder) S3Retry(output string) { r.log("S3Retry %s", output) }
func (r *recorder) LookupCache(lookup string, lookups, hits int) {
	r.log("LookupCache %s %d %d", lookup, lookups, hits)
}

// partial implements only one hook; Nop supplies the rest.
type partial struct {
	metrics.Nop
	rows int
}

func (p *partial) RowsOut(_ string, rows int) { p.rows += rows }

func callAll(h metrics.Hooks) {
	h.RecordsRead("s1", 10, 100, 5)
	h.BatchAcked("s1", 10, time.Millisecond, errors.New("boom"))
	h.Checkpointed("s1", time.Second)
	h.LeaseGained("s1")
	h.LeaseLost("s1", metrics.LeaseShardEnd)
	h.RowsOut("o", 7)
	h.FirehoseCall("f", metrics.FirehoseCall{Records: 1, PayloadBytes: 2, FailedRecords: 3, BilledBytes: 4, Attempt: 5, Latency: 6})
	h.DeadLetter("invalid_json: x", 2)
	h.InputSkipped("csv_header", 3)
	h.RedisCall("op", 3*time.Millisecond, nil)
	h.WindowFlush("w", 4)
	h.WindowEmit("w", 5)
	h.LateRows("w", 6, metrics.LateUpdate)
	h.LeaseAcquired("s2", metrics.AcquiredHandoff)
	h.LeaseGroup([]metrics.WorkerLeases{{Worker: "a", Held: 2}}, 1.25)
	h.SourceError("GetRecords", "ExpiredIteratorException")
	h.WindowProgress("w", time.Unix(100, 0), time.Unix(60, 0))
	h.WindowHeld("w", "s1", metrics.HeldStalled)
	h.S3Upload("lake", metrics.S3Upload{Rows: 7, Bytes: 8, Parts: 9})
	h.S3Retry("lake")
	h.LookupCache("user:{user_id}", 10, 4)
}

var allCalls = []string{
	"RecordsRead s1 10 100 5",
	"BatchAcked s1 10 1ms boom",
	"Checkpointed s1 1s",
	"LeaseGained s1",
	"LeaseLost s1 shard_end",
	"RowsOut o 7",
	"FirehoseCall f 1 2 3 4 5 6ns <nil>",
	"DeadLetter invalid_json: x 2",
	"InputSkipped csv_header 3",
	"RedisCall op 3ms <nil>",
	"WindowFlush w 4",
	"WindowEmit w 5",
	"LateRows w 6 update",
	"LeaseAcquired s2 handoff",
	"LeaseGroup [{a 2}] 1.25",
	"SourceError GetRecords ExpiredIteratorException",
	"WindowProgress w 100 60",
	"WindowHeld w s1 stalled",
	"S3Upload lake 7 8 9 <nil>",
	"S3Retry lake",
	"LookupCache user:{user_id} 10 4",
}

// TestCallAllCoversEveryHook: the fan-out test above calls each hook of
// the interface, so a hook added later cannot go untested here.
func TestCallAllCoversEveryHook(t *testing.T) {
	r := &recorder{}
	callAll(r)
	called := map[string]bool{}
	for _, c := range r.calls {
		name, _, _ := strings.Cut(c, " ")
		called[name] = true
	}
	hooks := reflect.TypeFor[metrics.Hooks]()
	for i := range hooks.NumMethod() {
		if m := hooks.Method(i).Name; !called[m] {
			t.Errorf("callAll does not call %s", m)
		}
	}
}

func TestMultiFansOutEveryHook(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	p := &partial{}
	callAll(metrics.Join(a, nil, metrics.Nop{}, metrics.Join(b, p)))
	for name, r := range map[string]*recorder{"a": a, "b": b} {
		if !reflect.DeepEqual(r.calls, allCalls) {
			t.Errorf("%s got\n%q\nwant\n%q", name, r.calls, allCalls)
		}
	}
	if p.rows != 7 {
		t.Errorf("partial hooks saw %d rows, want 7", p.rows)
	}
}

func TestJoin(t *testing.T) {
	r1, r2 := &recorder{}, &recorder{}
	for _, c := range []struct {
		name string
		in   []metrics.Hooks
		want metrics.Hooks
	}{
		{"none", nil, metrics.Nop{}},
		{"only nil and Nop", []metrics.Hooks{nil, metrics.Nop{}, &metrics.Nop{}, metrics.Multi{}}, metrics.Nop{}},
		{"one", []metrics.Hooks{nil, r1, metrics.Nop{}}, r1},
		{"flattened", []metrics.Hooks{metrics.Multi{r1, metrics.Multi{nil, r2}}, metrics.Nop{}}, metrics.Multi{r1, r2}},
	} {
		if got := metrics.Join(c.in...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Join = %#v, want %#v", c.name, got, c.want)
		}
	}
	if got := metrics.OrNop(nil); got != (metrics.Nop{}) {
		t.Errorf("OrNop(nil) = %#v", got)
	}
	if got := metrics.OrNop(r1); got != r1 {
		t.Errorf("OrNop(r1) = %#v", got)
	}
}

func TestReasonCode(t *testing.T) {
	for in, want := range map[string]string{
		"invalid_json: unexpected end of input": "invalid_json",
		"corrupt_kpl_aggregate":                 "corrupt_kpl_aggregate",
		" oversize_row :1 bytes":                "oversize_row",
		"":                                      "",
		"type_mismatch: a: b":                   "type_mismatch",
	} {
		if got := metrics.ReasonCode(in); got != want {
			t.Errorf("ReasonCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNopDoesNotAllocate(t *testing.T) {
	h := metrics.OrNop(nil)
	err := errors.New("x")
	if n := testing.AllocsPerRun(100, func() {
		h.RecordsRead("s", 1, 2, 3)
		h.BatchAcked("s", 1, time.Second, err)
		h.FirehoseCall("f", metrics.FirehoseCall{Records: 1, Err: err})
		h.DeadLetter("r: x", 1)
	}); n != 0 {
		t.Errorf("Nop: %v allocations per call, want 0", n)
	}
}

// A pipeline's hooks: Prometheus and any other sink, joined once at start-up;
// the core calls through the result and never checks for nil.
func ExampleJoin() {
	var configured []metrics.Hooks // e.g. a *prom.Metrics, an EMF writer, or nothing
	hooks := metrics.Join(configured...)
	hooks.RecordsRead("shardId-000000000000", 500, 150_000, 1200)
	fmt.Printf("%T\n", hooks)
	// Output: metrics.Nop
}

package redishook_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/metrics"
	"github.com/shardflow/shardflow/metrics/redishook"
)

type call struct {
	op     string
	failed bool
}

type recorder struct {
	metrics.Nop
	mu    sync.Mutex
	calls []call
}

func (r *recorder) RedisCall(op string, latency time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if latency <= 0 {
		op += "(no latency)"
	}
	r.calls = append(r.calls, call{op, err != nil})
}

func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func TestHookReportsRoundTrips(t *testing.T) {
	env := testenv.Load(t)
	base, prefix := env.Redis(t)
	rec := &recorder{}
	rdb := redis.NewClient(base.Options())
	t.Cleanup(func() { rdb.Close() })
	rdb.AddHook(redishook.New(rec))
	ctx := context.Background()

	if err := rdb.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, prefix+"missing").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing = %v", err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, prefix+"k")
		p.Incr(ctx, prefix+"n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, prefix+"n")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	var ops []call
	for _, c := range got {
		if c.op == "client_setinfo" && c.failed {
			t.Errorf("CLIENT SETINFO failure counted: %+v", got)
		}
		if c.op != "dial" && c.op != "hello" && c.op != "client_setinfo" { // connection set-up
			ops = append(ops, c)
		}
	}
	want := []call{{"set", false}, {"get", false}, {"pipeline", false}, {"multi", false}}
	if len(ops) != len(want) {
		t.Fatalf("calls = %+v, want %+v", got, want)
	}
	for i := range want {
		if ops[i] != want[i] {
			t.Errorf("call %d = %+v, want %+v (all: %+v)", i, ops[i], want[i], got)
		}
	}
	dialed := false
	for _, c := range got {
		dialed = dialed || c == call{"dial", false}
	}
	if !dialed {
		t.Errorf("no dial reported: %+v", got)
	}

	// A server that is not there: the dial and the command fail.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dead := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { dead.Close() })
	dead.AddHook(redishook.New(rec))
	if err := dead.Ping(ctx).Err(); err == nil {
		t.Fatal("PING to a closed port succeeded")
	}
	var pingFailed, dialFailed bool
	for _, c := range rec.take() {
		pingFailed = pingFailed || c == call{"ping", true}
		dialFailed = dialFailed || c == call{"dial", true}
	}
	if !pingFailed || !dialFailed {
		t.Errorf("failed ping reported %v, failed dial reported %v", pingFailed, dialFailed)
	}
}

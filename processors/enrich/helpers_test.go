package enrich_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/internal/testenv"
	"github.com/shardflow/shardflow/processors/decode"
)

var eventFields = []decode.Field{
	{Name: "event_id", Type: decode.String},
	{Name: "user_id", Type: decode.String, Nullable: true},
	{Name: "country", Type: decode.String, Nullable: true},
	{Name: "price", Type: decode.Float64, Nullable: true},
}

// batchOf decodes records into a batch released at cleanup.
func batchOf(tb testing.TB, mem memory.Allocator, records ...string) *flow.Batch {
	tb.Helper()
	d, err := decode.New(mem, eventFields)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Release()
	recs := make([]flow.SourceRecord, len(records))
	for i, r := range records {
		recs[i] = flow.SourceRecord{Data: []byte(r), SequenceNumber: fmt.Sprint(i)}
	}
	b, dead := d.Decode("shard-1", recs)
	tb.Cleanup(b.Record.Release)
	if len(dead) > 0 {
		tb.Fatalf("test records do not decode: %+v", dead)
	}
	return b
}

// usersBatch is n events cycling over users u-0 .. u-(users-1).
func usersBatch(tb testing.TB, mem memory.Allocator, n, users int) *flow.Batch {
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"event_id":"e-%d","user_id":"u-%d","country":"DE","price":%d}`, i, i%users, i%50)
	}
	return batchOf(tb, mem, recs...)
}

func checked(tb testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	tb.Cleanup(func() { mem.AssertSize(tb, 0) })
	return mem
}

// redisFor returns the test's Redis client and key prefix.
func redisFor(tb testing.TB) (*redis.Client, string) {
	return testenv.Load(tb).Redis(tb)
}

// seedUsers writes hashes prefix+"user:u-i" for i < n with tier "t<i%3>"
// and score i.
func seedUsers(tb testing.TB, rdb redis.UniversalClient, prefix string, n int, tier string) {
	tb.Helper()
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range n {
		pipe.HSet(ctx, fmt.Sprintf("%suser:u-%d", prefix, i), "tier", fmt.Sprintf("%s%d", tier, i%3), "score", i)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		tb.Fatal(err)
	}
}

// counter counts what a client sends: single commands and pipelines.
type counter struct {
	commands, pipelines, pipelined atomic.Int64
}

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.pipelines.Add(1)
		c.pipelined.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (c *counter) take() (commands, pipelines, pipelined int64) {
	return c.commands.Swap(0), c.pipelines.Swap(0), c.pipelined.Swap(0)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 22, 4, 50, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// switchable is a client of the test Redis whose server can be made
// unreachable: down closes every open connection and makes new ones fail
// (connection refused from a closed port).
type switchable struct {
	*redis.Client
	mu     sync.Mutex
	isDown bool
	conns  []net.Conn
	closed string // an address nothing listens on
}

func newSwitchable(tb testing.TB) *switchable {
	tb.Helper()
	opts, err := redis.ParseURL(testenv.Load(tb).RedisURL)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &switchable{closed: l.Addr().String()}
	l.Close()
	opts.MaxRetries = -1 // fail fast: the caller's retry is under test
	opts.DialTimeout = time.Second
	opts.DialerRetries = 1
	opts.DialerRetryTimeout = time.Millisecond
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.isDown {
			addr = s.closed
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			s.conns = append(s.conns, c)
		}
		return c, err
	}
	s.Client = redis.NewClient(opts)
	tb.Cleanup(func() { s.Client.Close() })
	return s
}

func (s *switchable) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isDown = true
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func (s *switchable) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isDown = false
}

package redis

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"

	"github.com/shardflow/shardflow/internal/testenv"
)

const testApp = "clicks"

// clock is an injected clock shared by the workers of a test, so leases
// expire when the test says so, not when the scheduler does.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is one test's Redis key space and clock.
type fixture struct {
	t      *testing.T
	client *goredis.Client
	prefix string
	clock  *clock
	lease  time.Duration
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	client, prefix := testenv.Load(t).Redis(t)
	return &fixture{t: t, client: client, prefix: prefix, clock: newClock(), lease: 10 * time.Second}
}

// kcl returns a KCL configuration for worker as the consumer builds it.
func kcl(worker string) *kclcfg.KinesisClientLibConfiguration {
	return kclcfg.NewKinesisClientLibConfig(testApp, "stream", "us-east-1", worker).
		WithTableName(testApp).
		WithFailoverTimeMillis(10000)
}

// worker returns an initialised checkpointer for worker, on its own Store
// (as a separate process would have), configured by edit if given.
func (f *fixture) worker(id string, edit ...func(*kclcfg.KinesisClientLibConfiguration)) *checkpointer {
	f.t.Helper()
	k := kcl(id)
	for _, e := range edit {
		e(k)
	}
	s := New(f.client, Options{Prefix: f.prefix, Application: testApp, LeaseDuration: f.lease, Now: f.clock.Now})
	c := s.checkpointer(k)
	if err := c.Init(); err != nil {
		f.t.Fatalf("Init(%s): %v", id, err)
	}
	return c
}

func stealing(k *kclcfg.KinesisClientLibConfiguration) {
	k.WithLeaseStealing(true)
	k.LeaseStealingClaimTimeoutMillis = 120000
}

// field reads one field of a shard's lease hash ("" when absent).
func (f *fixture) field(c *checkpointer, shard, name string) string {
	f.t.Helper()
	v, err := f.client.HGet(context.Background(), c.leaseKey(shard), name).Result()
	if errors.Is(err, goredis.Nil) {
		return ""
	}
	if err != nil {
		f.t.Fatalf("HGET %s %s: %v", shard, name, err)
	}
	return v
}

func newShard(id, parent string) *par.ShardStatus {
	return &par.ShardStatus{ID: id, ParentShardId: parent, Mux: &sync.RWMutex{}}
}

// mustLease acquires (or renews) shard for c.
func mustLease(t *testing.T, c *checkpointer, s *par.ShardStatus) {
	t.Helper()
	if err := c.GetLease(s, c.worker); err != nil {
		t.Fatalf("%s GetLease(%s): %v", c.worker, s.ID, err)
	}
}

// mustCheckpoint writes seq as c's checkpoint of s.
func mustCheckpoint(t *testing.T, c *checkpointer, s *par.ShardStatus, seq string) {
	t.Helper()
	s.SetCheckpoint(seq)
	if err := c.CheckpointSequence(s); err != nil {
		t.Fatalf("%s CheckpointSequence(%s, %s): %v", c.worker, s.ID, seq, err)
	}
}

// notAcquired asserts that err is KCL lease contention wrapping want.
func notAcquired(t *testing.T, what string, err, want error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %v", what, want)
	}
	if !errors.As(err, &chk.ErrLeaseNotAcquired{}) {
		t.Errorf("%s: %v does not match chk.ErrLeaseNotAcquired (the KCL would log it as a failure)", what, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// storedCheckpoint reads the checkpoint the way another worker would.
func storedCheckpoint(t *testing.T, c *checkpointer, shard string) string {
	t.Helper()
	s := newShard(shard, "")
	if err := c.FetchCheckpoint(s); err != nil {
		t.Fatalf("FetchCheckpoint(%s): %v", shard, err)
	}
	return s.GetCheckpoint()
}

// roundTrips counts the commands and pipelines a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

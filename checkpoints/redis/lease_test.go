package redis

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

// The factory has the shape consumer.Config.Checkpointer expects.
var _ func(*kclcfg.KinesisClientLibConfiguration) chk.Checkpointer = (*Store)(nil).Checkpointer

func TestLeaseLifecycle(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	sa, sb := newShard("shard-0", ""), newShard("shard-0", "")

	mustLease(t, a, sa)
	if got := f.field(a, "shard-0", "token"); got != "1" {
		t.Fatalf("token after first acquisition = %q, want 1", got)
	}
	if sa.GetLeaseOwner() != "A" || !sa.GetLeaseTimeout().Equal(f.clock.Now().Add(f.lease)) {
		t.Fatalf("ShardStatus after GetLease: owner %q timeout %v, want A and now+%v", sa.GetLeaseOwner(), sa.GetLeaseTimeout(), f.lease)
	}

	notAcquired(t, "B while A's lease is live", b.GetLease(sb, "B"), ErrLeaseHeld)

	f.clock.Advance(f.lease / 2)
	mustLease(t, a, sa) // renewal
	if got := f.field(a, "shard-0", "token"); got != "1" {
		t.Fatalf("token after renewal = %q, want 1 (a renewal is not a new holding)", got)
	}
	if want := f.clock.Now().Add(f.lease); !sa.GetLeaseTimeout().Equal(want) {
		t.Fatalf("renewal left timeout %v, want %v", sa.GetLeaseTimeout(), want)
	}

	f.clock.Advance(f.lease / 2) // renewed half a lease ago: still live
	notAcquired(t, "B before the renewed lease expires", b.GetLease(sb, "B"), ErrLeaseHeld)

	f.clock.Advance(f.lease) // A stopped renewing
	mustLease(t, b, sb)
	if got := f.field(b, "shard-0", "token"); got != "2" {
		t.Fatalf("token after takeover = %q, want 2", got)
	}
	if owner, err := a.GetLeaseOwner("shard-0"); err != nil || owner != "B" {
		t.Fatalf("GetLeaseOwner = %q, %v; want B", owner, err)
	}
}

func TestLeaseExpiresInRealTime(t *testing.T) {
	f := newFixture(t)
	f.clock = nil
	s := New(f.client, Options{Prefix: f.prefix, Application: testApp, LeaseDuration: 300 * time.Millisecond})
	a := s.checkpointer(kcl("A").WithLeaseRefreshWaitTime(100))
	b := s.checkpointer(kcl("B").WithLeaseRefreshWaitTime(100))
	sa, sb := newShard("shard-0", ""), newShard("shard-0", "")

	mustLease(t, a, sa)
	notAcquired(t, "B at once", b.GetLease(sb, "B"), ErrLeaseHeld)
	time.Sleep(400 * time.Millisecond)
	mustLease(t, b, sb)
	sa.SetCheckpoint("100")
	if err := a.CheckpointSequence(sa); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("A's checkpoint after B took over: %v, want ErrLeaseLost", err)
	}
}

func TestReleaseLetsOthersInAtOnce(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	sa, sb := newShard("shard-0", ""), newShard("shard-0", "")

	mustLease(t, a, sa)
	mustCheckpoint(t, a, sa, "100")
	if err := a.RemoveLeaseOwner("shard-0"); err != nil {
		t.Fatalf("RemoveLeaseOwner by the owner: %v", err)
	}
	if _, err := a.GetLeaseOwner("shard-0"); !errors.Is(err, chk.NoLeaseOwnerErr) {
		t.Fatalf("GetLeaseOwner after release: %v, want NoLeaseOwnerErr", err)
	}
	if got := storedCheckpoint(t, b, "shard-0"); got != "100" {
		t.Fatalf("checkpoint after release = %q, want 100 (release keeps it)", got)
	}
	mustLease(t, b, sb) // no waiting for expiry
	if got := f.field(b, "shard-0", "token"); got != "2" {
		t.Fatalf("token = %q, want 2", got)
	}
	// A has nothing left to release or write.
	if err := a.RemoveLeaseOwner("shard-0"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("second release: %v, want ErrLeaseLost", err)
	}
	if err := a.CheckpointSequence(sa); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("checkpoint after release: %v, want ErrLeaseLost", err)
	}
	if owner := f.field(b, "shard-0", "owner"); owner != "B" {
		t.Fatalf("owner = %q, want B", owner)
	}
}

// TestConcurrentAcquire races many workers for one expired lease: exactly
// one may win each round, and the token moves by exactly one.
func TestConcurrentAcquire(t *testing.T) {
	f := newFixture(t)
	const workers, rounds = 16, 10
	cps := make([]*checkpointer, workers)
	for i := range cps {
		cps[i] = f.worker(fmt.Sprintf("w%02d", i))
	}
	mustLease(t, f.worker("old"), newShard("shard-0", ""))

	for round := 1; round <= rounds; round++ {
		f.clock.Advance(2 * f.lease) // whoever holds it stops renewing
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, workers)
		for i, c := range cps {
			wg.Go(func() {
				<-start
				errs[i] = c.GetLease(newShard("shard-0", ""), c.worker)
			})
		}
		close(start)
		wg.Wait()

		winner := ""
		for i, err := range errs {
			switch {
			case err == nil:
				if winner != "" {
					t.Fatalf("round %d: both %s and %s acquired the lease", round, winner, cps[i].worker)
				}
				winner = cps[i].worker
			case !errors.As(err, &chk.ErrLeaseNotAcquired{}):
				t.Fatalf("round %d: %s: %v, want lease contention", round, cps[i].worker, err)
			}
		}
		if winner == "" {
			t.Fatalf("round %d: nobody acquired an expired lease", round)
		}
		if owner := f.field(cps[0], "shard-0", "owner"); owner != winner {
			t.Fatalf("round %d: stored owner %q, winner %q", round, owner, winner)
		}
		if tok, want := f.field(cps[0], "shard-0", "token"), fmt.Sprint(round+1); tok != want {
			t.Fatalf("round %d: token %s, want %s", round, tok, want)
		}
	}
}

// TestStaleLeaseOfSameWorkerID: a restarted process with the same worker
// id finds a lease under its name it does not hold. It must see the shard as
// free (or the KCL would never take it) and take it with a new token, which
// fences the earlier life.
func TestStaleLeaseOfSameWorkerID(t *testing.T) {
	f := newFixture(t)
	before := f.worker("A")
	sb := newShard("shard-0", "")
	mustLease(t, before, sb)
	mustCheckpoint(t, before, sb, "100")

	after := f.worker("A")
	s := newShard("shard-0", "")
	if err := after.FetchCheckpoint(s); err != nil {
		t.Fatalf("FetchCheckpoint: %v", err)
	}
	if s.GetLeaseOwner() != "" || s.GetCheckpoint() != "100" {
		t.Fatalf("FetchCheckpoint shows owner %q checkpoint %q, want free and 100", s.GetLeaseOwner(), s.GetCheckpoint())
	}
	mustLease(t, after, s)
	if got := f.field(after, "shard-0", "token"); got != "2" {
		t.Fatalf("token = %q, want 2", got)
	}
	sb.SetCheckpoint("90")
	if err := before.CheckpointSequence(sb); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("earlier life's checkpoint: %v, want ErrLeaseLost", err)
	}
	if got := storedCheckpoint(t, after, "shard-0"); got != "100" {
		t.Fatalf("checkpoint = %q, want 100", got)
	}
}

// TestAcquireWhilePreviousHoldingReleases mimics the KCL's releaseLease,
// which clears the local owner before calling RemoveLeaseOwner: an event
// loop acquisition in between must not start a second consumer.
func TestAcquireWhilePreviousHoldingReleases(t *testing.T) {
	f := newFixture(t)
	a := f.worker("A")
	s := newShard("shard-0", "")
	mustLease(t, a, s)

	s.SetLeaseOwner("")
	notAcquired(t, "acquisition during release", a.GetLease(s, "A"), ErrLeaseHeld)
	if got := f.field(a, "shard-0", "token"); got != "1" {
		t.Fatalf("token = %q, want 1 (refusal must not touch Redis)", got)
	}
	if err := a.RemoveLeaseOwner("shard-0"); err != nil {
		t.Fatalf("RemoveLeaseOwner: %v", err)
	}
	mustLease(t, a, s)
	if got := f.field(a, "shard-0", "token"); got != "2" {
		t.Fatalf("token = %q, want 2", got)
	}
}

func TestGetLeaseOwnerMismatch(t *testing.T) {
	f := newFixture(t)
	a := f.worker("A")
	if err := a.GetLease(newShard("shard-0", ""), "B"); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("GetLease for another worker id: %v, want ErrInvalidOptions", err)
	}
}

func TestInitValidates(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		opts Options
		k    *kclcfg.KinesisClientLibConfiguration
		want error // nil: valid
	}{
		{"valid", Options{Prefix: f.prefix, Application: "app"}, kcl("w"), nil},
		{"application from TableName", Options{Prefix: f.prefix}, kcl("w"), nil},
		{"application from ApplicationName", Options{Prefix: f.prefix}, kcl("w").WithTableName(""), nil},
		{"no application", Options{Prefix: f.prefix}, noApp(), ErrInvalidOptions},
		{"tag in application", Options{Prefix: f.prefix, Application: "a{b}"}, kcl("w"), ErrInvalidOptions},
		{"tag in prefix", Options{Prefix: "sf{x}", Application: "app"}, kcl("w"), ErrInvalidOptions},
		{"no worker", Options{Prefix: f.prefix, Application: "app"}, noWorker(), ErrInvalidOptions},
		{"no lease", Options{Prefix: f.prefix, Application: "app"}, noLease(), ErrInvalidOptions},
		{"lease shorter than renewal", Options{Prefix: f.prefix, Application: "app", LeaseDuration: 2 * time.Second}, kcl("w"), ErrInvalidOptions},
		{"lease longer than renewal", Options{Prefix: f.prefix, Application: "app", LeaseDuration: 3 * time.Second}, kcl("w"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(f.client, tc.opts).checkpointer(tc.k)
			err := c.Init()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Init: %v", err)
				}
				if c.app == "" {
					t.Fatal("no application chosen")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Init: %v, want %v", err, tc.want)
			}
			if err := c.GetLease(newShard("s", ""), c.worker); !errors.Is(err, tc.want) {
				t.Fatalf("GetLease on an invalid checkpointer: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestInitFailsWithoutRedis(t *testing.T) {
	client := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer client.Close()
	err := New(client, Options{Application: "app"}).Checkpointer(kcl("w")).Init()
	if err == nil {
		t.Fatal("Init against a closed port succeeded")
	}
	if want := "checkpoints/redis: application app: ping"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Init error %q lacks context %q", err, want)
	}
}

// TestShardStatusIsUntouchedOnContention: a refused GetLease must not make
// the KCL believe it owns the shard.
func TestShardStatusIsUntouchedOnContention(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	mustLease(t, a, newShard("shard-0", ""))
	sb := &par.ShardStatus{ID: "shard-0", Mux: &sync.RWMutex{}, AssignedTo: "A"}
	notAcquired(t, "B", b.GetLease(sb, "B"), ErrLeaseHeld)
	if sb.GetLeaseOwner() != "A" {
		t.Fatalf("owner after refused GetLease = %q, want A", sb.GetLeaseOwner())
	}
}

func noApp() *kclcfg.KinesisClientLibConfiguration {
	k := kcl("w").WithTableName("")
	k.ApplicationName = ""
	return k
}

func noLease() *kclcfg.KinesisClientLibConfiguration {
	k := kcl("w")
	k.FailoverTimeMillis = 0 // WithFailoverTimeMillis panics on 0
	return k
}

func noWorker() *kclcfg.KinesisClientLibConfiguration {
	k := kcl("w")
	k.WorkerID = "" // the KCL makes one up when given none
	return k
}

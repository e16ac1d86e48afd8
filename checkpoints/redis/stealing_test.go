package redis

import (
	"errors"
	"slices"
	"testing"
	"time"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

// TestLeaseStealing walks the KCL's steal: rebalance lists workers and
// claims a shard of the busiest; the owner's next renewal fails, it releases;
// only the claimant may take the shard.
func TestLeaseStealing(t *testing.T) {
	f := newFixture(t)
	a, b, c := f.worker("A", stealing), f.worker("B", stealing), f.worker("C", stealing)
	a0, a1 := newShard("shard-0", ""), newShard("shard-1", "")
	mustLease(t, a, a0)
	mustLease(t, a, a1)
	mustCheckpoint(t, a, a0, "100")

	// B's view, as its KCL worker keeps it.
	view := map[string]*par.ShardStatus{"shard-0": newShard("shard-0", ""), "shard-1": newShard("shard-1", "")}
	workers, err := b.ListActiveWorkers(view)
	if err != nil {
		t.Fatalf("ListActiveWorkers: %v", err)
	}
	if len(workers) != 1 || len(workers["A"]) != 2 {
		t.Fatalf("ListActiveWorkers = %v, want A with 2 shards", owners(workers))
	}

	if err := b.ClaimShard(view["shard-0"], "B"); err != nil {
		t.Fatalf("ClaimShard: %v", err)
	}
	if view["shard-0"].ClaimRequest != "B" || f.field(b, "shard-0", "claim_request") != "B" {
		t.Fatalf("claim not recorded: local %q", view["shard-0"].ClaimRequest)
	}
	if err := c.ClaimShard(newShardOwnedBy("shard-0", "A"), "C"); !errors.Is(err, ErrClaimRejected) {
		t.Fatalf("second claim: %v, want ErrClaimRejected", err)
	}

	// The owner is asked to hand over: its renewal fails, but it still
	// holds the lease, so it may write its last checkpoint and release.
	f.clock.Advance(time.Second)
	notAcquired(t, "A's renewal under a claim", a.GetLease(a0, "A"), ErrShardClaimed)
	timeout := a0.GetLeaseTimeout()
	mustCheckpoint(t, a, a0, "150")
	if !a0.GetLeaseTimeout().Equal(timeout) {
		t.Fatal("a checkpoint under a pending claim extended the lease")
	}
	mustLease(t, a, a1) // other shards are unaffected

	notAcquired(t, "C while B's claim is pending", c.GetLease(newShard("shard-0", ""), "C"), ErrShardClaimed)
	notAcquired(t, "B before A lets go", b.GetLease(view["shard-0"], "B"), ErrLeaseHeld)

	a0.SetLeaseOwner("") // the KCL's releaseLease
	if err := a.RemoveLeaseOwner("shard-0"); err != nil {
		t.Fatalf("A's release: %v", err)
	}
	notAcquired(t, "C after A let go", c.GetLease(newShard("shard-0", ""), "C"), ErrShardClaimed)
	notAcquired(t, "A after it let go", a.GetLease(a0, "A"), ErrShardClaimed)

	if err := b.FetchCheckpoint(view["shard-0"]); err != nil {
		t.Fatalf("FetchCheckpoint: %v", err)
	}
	if got := view["shard-0"]; got.ClaimRequest != "B" || got.GetCheckpoint() != "150" || got.GetLeaseOwner() != "" {
		t.Fatalf("B's view before stealing: claim %q checkpoint %q owner %q", got.ClaimRequest, got.GetCheckpoint(), got.GetLeaseOwner())
	}
	mustLease(t, b, view["shard-0"])
	if tok, claim := f.field(b, "shard-0", "token"), f.field(b, "shard-0", "claim_request"); tok != "2" || claim != "" {
		t.Fatalf("after the steal: token %q claim %q, want 2 and none", tok, claim)
	}
	if view["shard-0"].ClaimRequest != "" {
		t.Fatal("the claim is still in B's ShardStatus after it took the shard")
	}

	workers, err = c.ListActiveWorkers(map[string]*par.ShardStatus{"shard-0": newShard("shard-0", ""), "shard-1": newShard("shard-1", "")})
	if err != nil {
		t.Fatalf("ListActiveWorkers: %v", err)
	}
	if got := owners(workers); !slices.Equal(got, []string{"A:shard-1", "B:shard-0"}) {
		t.Fatalf("ListActiveWorkers = %v", got)
	}
}

func TestClaimExpires(t *testing.T) {
	f := newFixture(t)
	a, b, c := f.worker("A", stealing), f.worker("B", stealing), f.worker("C", stealing)
	mustLease(t, a, newShard("shard-0", ""))
	if err := b.ClaimShard(newShardOwnedBy("shard-0", "A"), "B"); err != nil {
		t.Fatalf("ClaimShard: %v", err)
	}
	// A dies; B never comes for the shard either.
	f.clock.Advance(f.lease + time.Second)
	notAcquired(t, "C while the claim binds", c.GetLease(newShard("shard-0", ""), "C"), ErrShardClaimed)
	f.clock.Advance(120 * time.Second)
	mustLease(t, c, newShard("shard-0", ""))
	if claim := f.field(c, "shard-0", "claim_request"); claim != "" {
		t.Fatalf("expired claim %q survived the acquisition", claim)
	}
}

func TestClaimsIgnoredWithoutStealing(t *testing.T) {
	f := newFixture(t)
	a, b, c := f.worker("A"), f.worker("B"), f.worker("C")
	sa := newShard("shard-0", "")
	mustLease(t, a, sa)
	if err := b.ClaimShard(newShardOwnedBy("shard-0", "A"), "B"); err != nil {
		t.Fatalf("ClaimShard: %v", err)
	}
	mustLease(t, a, sa) // the claim does not bind
	f.clock.Advance(f.lease + time.Millisecond)
	mustLease(t, c, newShard("shard-0", ""))
}

func TestClaimConditions(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A", stealing), f.worker("B", stealing)
	s0, s1 := newShard("shard-0", ""), newShard("shard-1", "")
	mustLease(t, a, s0)
	mustLease(t, a, s1)
	mustCheckpoint(t, a, s1, chk.ShardEnd)

	cases := []struct {
		name  string
		shard *par.ShardStatus
		by    string
	}{
		{"owner changed", newShardOwnedBy("shard-0", "X"), "B"},
		{"own shard", newShardOwnedBy("shard-0", "A"), "A"},
		{"ended", newShardOwnedBy("shard-1", "A"), "B"},
		{"unknown shard", newShardOwnedBy("shard-9", "A"), "B"},
		{"no owner", newShard("shard-0", ""), "B"},
	}
	for _, tc := range cases {
		if err := b.ClaimShard(tc.shard, tc.by); !errors.Is(err, ErrClaimRejected) {
			t.Errorf("%s: %v, want ErrClaimRejected", tc.name, err)
		}
	}
	if claim := f.field(a, "shard-0", "claim_request"); claim != "" {
		t.Fatalf("a rejected claim was recorded: %q", claim)
	}
}

func TestListActiveWorkers(t *testing.T) {
	f := newFixture(t)
	a, b := f.worker("A"), f.worker("B")
	ss := map[string]*par.ShardStatus{}
	for _, id := range []string{"s0", "s1", "s2", "s3"} {
		ss[id] = newShard(id, "")
	}
	mustLease(t, a, ss["s0"])
	mustLease(t, a, ss["s1"])
	mustLease(t, b, ss["s2"])
	mustLease(t, b, ss["s3"])
	mustCheckpoint(t, b, ss["s3"], chk.ShardEnd) // finished: not counted

	view := func() map[string]*par.ShardStatus {
		m := map[string]*par.ShardStatus{}
		for id := range ss {
			m[id] = newShard(id, "")
		}
		return m
	}
	workers, err := a.ListActiveWorkers(view())
	if err != nil {
		t.Fatalf("ListActiveWorkers: %v", err)
	}
	if got := owners(workers); !slices.Equal(got, []string{"A:s0", "A:s1", "B:s2"}) {
		t.Fatalf("ListActiveWorkers = %v", got)
	}

	// B dies: its live shard expires and must count as unassigned, not as
	// B's (a claim on a dead worker's shard would only delay its takeover).
	f.clock.Advance(f.lease / 2)
	mustLease(t, a, ss["s0"])
	mustLease(t, a, ss["s1"])
	f.clock.Advance(f.lease/2 + time.Millisecond)
	if _, err := a.ListActiveWorkers(view()); !errors.Is(err, chk.ErrShardNotAssigned) {
		t.Fatalf("with an expired lease: %v, want ErrShardNotAssigned", err)
	}
	// A shard nobody ever leased is unassigned too.
	v := view()
	v["s4"] = newShard("s4", "")
	if _, err := b.ListActiveWorkers(v); !errors.Is(err, chk.ErrShardNotAssigned) {
		t.Fatalf("with an unleased shard: %v, want ErrShardNotAssigned", err)
	}
}

func newShardOwnedBy(id, owner string) *par.ShardStatus {
	s := newShard(id, "")
	s.AssignedTo = owner
	return s
}

// owners flattens ListActiveWorkers' answer to sorted "owner:shard".
func owners(w map[string][]*par.ShardStatus) []string {
	var out []string
	for owner, shards := range w {
		for _, s := range shards {
			out = append(out, owner+":"+s.ID)
		}
	}
	slices.Sort(out)
	return out
}

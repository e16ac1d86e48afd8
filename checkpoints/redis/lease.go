package redis

import (
	"fmt"

	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

// Init validates the configuration and checks that Redis answers. There is
// nothing to create, so workers starting together cannot race (unlike the
// KCL's CreateTable, notes defect 6).
func (c *checkpointer) Init() error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("checkpoints/redis: application %s: ping: %w", c.app, err)
	}
	return nil
}

// GetLease acquires or renews the lease on shard for owner.
//
// The KCL calls it from two places with the same arguments: its event loop,
// to acquire a shard it does not own locally, and a shard consumer's renewal
// timer, while that consumer runs. They are told apart by this worker's
// holdings: with a holding it is a renewal, fenced by the held token; without
// one it is an acquisition, which takes a new token. Contention of either
// kind matches chk.ErrLeaseNotAcquired (the KCL's test); a renewal refused
// because the lease is gone also matches ErrLeaseLost, and the holding is
// then lost for good.
func (c *checkpointer) GetLease(shard *par.ShardStatus, owner string) error {
	const op = "get lease"
	if c.cfgErr != nil {
		return c.cfgErr
	}
	if owner != c.worker {
		// Holdings are per worker: a lease taken for another id could be
		// neither renewed nor released by this one.
		return c.fail(op, shard.ID, ErrInvalidOptions, fmt.Sprintf("owner %q is not this checkpointer's worker %q", owner, c.worker))
	}
	h, renewal := c.holding(shard.ID)
	switch {
	case renewal && h.lost:
		return c.notAcquired(op, shard.ID, ErrLeaseLost, "lost earlier; the shard's consumer must end")
	case renewal && shard.GetLeaseOwner() != owner:
		// The KCL's releaseLease clears the local owner just before it calls
		// RemoveLeaseOwner; an event-loop acquisition in between would start
		// a second consumer next to the one still releasing.
		return c.notAcquired(op, shard.ID, ErrLeaseHeld, "this worker's previous holding is still being released")
	}

	now := c.nowMs()
	r, err := c.run(acquireScript, c.keys(shard.ID),
		shard.ID, owner, h.token, now, now+c.lease.Milliseconds(),
		shard.ParentShardId, boolArg(c.stealing), c.claimTimeout.Milliseconds())
	if err != nil {
		return c.fail(op, shard.ID, err, "")
	}
	switch r.status {
	case "OK":
	case "LOST", "EXPIRED":
		c.markLost(shard.ID, h.token)
		return c.notAcquired(op, shard.ID, ErrLeaseLost, lostDetail(r, h.token))
	case "HELD":
		return c.notAcquired(op, shard.ID, ErrLeaseHeld,
			fmt.Sprintf("owner %s until %s", r.owner, msTime(r.timeoutMs).Format("15:04:05.000")))
	case "CLAIMED":
		return c.notAcquired(op, shard.ID, ErrShardClaimed, "claimed by "+r.claim)
	default:
		return c.fail(op, shard.ID, fmt.Errorf("unexpected script status %q", r.status), "")
	}

	c.mu.Lock()
	if renewal {
		// Our own release may have run while the renewal was in flight
		// (the KCL does not wait for its renewal goroutine): then the
		// shard is no longer ours locally either.
		cur, ok := c.held[shard.ID]
		renewal = ok && !cur.lost && cur.token == h.token
	} else {
		c.held[shard.ID] = holding{token: r.token}
	}
	c.mu.Unlock()
	if h.token != 0 && !renewal {
		return c.notAcquired(op, shard.ID, ErrLeaseLost, "released while renewing")
	}

	shard.Mux.Lock()
	shard.AssignedTo = owner
	shard.LeaseTimeout = msTime(r.timeoutMs)
	if shard.ClaimRequest != "" { // written only on change: the KCL reads it unlocked
		shard.ClaimRequest = ""
	}
	shard.Mux.Unlock()
	return nil
}

// RemoveLeaseOwner releases this worker's lease on shardID, which the KCL
// does when a shard consumer ends for any reason. It is conditional on the
// current owner and token, so a worker that lost the lease cannot free it
// from under its new owner: then it returns ErrLeaseLost and changes
// nothing. The holding is forgotten either way.
func (c *checkpointer) RemoveLeaseOwner(shardID string) error {
	const op = "release"
	if c.cfgErr != nil {
		return c.cfgErr
	}
	c.mu.Lock()
	h, ok := c.held[shardID]
	delete(c.held, shardID)
	c.mu.Unlock()
	if !ok || h.lost {
		return c.fail(op, shardID, ErrLeaseLost, "not held by "+c.worker)
	}
	r, err := c.run(releaseScript, c.keys(shardID)[:1], c.worker, h.token)
	if err != nil {
		return c.fail(op, shardID, err, "")
	}
	if r.status != "OK" {
		return c.fail(op, shardID, ErrLeaseLost, lostDetail(r, h.token))
	}
	return nil
}

// GetLeaseOwner returns the stored owner of shardID's lease, expired or not;
// chk.NoLeaseOwnerErr (wrapped) when there is none.
func (c *checkpointer) GetLeaseOwner(shardID string) (string, error) {
	const op = "get lease owner"
	if c.cfgErr != nil {
		return "", c.cfgErr
	}
	ctx, cancel := c.ctx()
	defer cancel()
	owner, err := c.client.HGet(ctx, c.leaseKey(shardID), "owner").Result()
	if isNil(err) || (err == nil && owner == "") {
		return "", c.fail(op, shardID, chk.NoLeaseOwnerErr, "")
	}
	if err != nil {
		return "", c.fail(op, shardID, err, "")
	}
	return owner, nil
}

// ClaimShard asks shard's owner to hand it over to claimID (lease
// stealing). The claim is recorded only if the owner is still the one the
// KCL's rebalance saw in shard (its AssignedTo), no other claim is pending,
// and the shard has not ended; ErrClaimRejected otherwise. The owner then
// fails its next renewal (ErrShardClaimed) and releases the lease, and only
// the claimant may acquire it, until the claim expires (see GetLease).
func (c *checkpointer) ClaimShard(shard *par.ShardStatus, claimID string) error {
	const op = "claim"
	if c.cfgErr != nil {
		return c.cfgErr
	}
	r, err := c.run(claimScript, c.keys(shard.ID)[:1],
		claimID, shard.GetLeaseOwner(), c.nowMs(), c.claimTimeout.Milliseconds())
	if err != nil {
		return c.fail(op, shard.ID, err, "")
	}
	if r.status != "OK" {
		return c.fail(op, shard.ID, ErrClaimRejected, claimDetail(r))
	}
	shard.Mux.Lock()
	if shard.ClaimRequest != claimID {
		shard.ClaimRequest = claimID
	}
	shard.LeaseTimeout = msTime(r.timeoutMs)
	shard.Mux.Unlock()
	return nil
}

func (c *checkpointer) notAcquired(op, shard string, err error, detail string) *ShardError {
	e := c.fail(op, shard, err, detail)
	e.notAcquired = true
	return e
}

func lostDetail(r reply, held int64) string {
	if r.status == "EXPIRED" {
		return fmt.Sprintf("expired at %s", msTime(r.timeoutMs).Format("15:04:05.000"))
	}
	owner := r.owner
	if owner == "" {
		owner = "nobody"
	}
	return fmt.Sprintf("held token %d, now owner %s with token %d", held, owner, r.token)
}

func claimDetail(r reply) string {
	switch r.status {
	case "GONE":
		return "no lease for the shard"
	case "FREE":
		return "the shard has no owner; acquire it instead"
	case "OWNER_CHANGED":
		return "owner is now " + r.owner
	case "OWNER":
		return "the claimant already owns it"
	case "ENDED":
		return "the shard has ended"
	case "CLAIMED":
		return "already claimed by " + r.claim
	}
	return "unexpected script status " + r.status
}

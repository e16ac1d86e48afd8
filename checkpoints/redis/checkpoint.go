package redis

import (
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	par "github.com/vmware/vmware-go-kcl-v2/clientlibrary/partition"
)

// CheckpointSequence stores shard.Checkpoint (a sequence number or
// SHARD_END) if this worker still holds the shard's lease: same owner, same
// fencing token, not expired. Otherwise it returns ErrLeaseLost, stores
// nothing, and the holding is lost for good (the next renewal fails too, so
// the KCL ends the shard's consumer). A success extends the lease.
func (c *checkpointer) CheckpointSequence(shard *par.ShardStatus) error {
	const op = "checkpoint"
	if c.cfgErr != nil {
		return c.cfgErr
	}
	seq := shard.GetCheckpoint()
	if seq == "" {
		return c.fail(op, shard.ID, errors.New("empty sequence number"), "")
	}
	h, ok := c.holding(shard.ID)
	if !ok || h.lost {
		// No round trip: whatever Redis says, this worker has no token
		// that could make the write legitimate.
		return c.fail(op, shard.ID, ErrLeaseLost, "not held by "+c.worker)
	}
	now := c.nowMs()
	r, err := c.run(checkpointScript, c.keys(shard.ID),
		shard.ID, c.worker, h.token, now, now+c.lease.Milliseconds(),
		seq, shard.ParentShardId, boolArg(c.stealing))
	if err != nil {
		return c.fail(op, shard.ID, err, "sequence "+seq)
	}
	if r.status != "OK" {
		c.markLost(shard.ID, h.token)
		return c.fail(op, shard.ID, ErrLeaseLost, lostDetail(r, h.token)+"; sequence "+seq+" not written")
	}
	if c.stillHeld(shard.ID, h.token) {
		shard.SetLeaseTimeout(msTime(r.timeoutMs))
	}
	return nil
}

// fields FetchCheckpoint and ListActiveWorkers read, in this order.
var readFields = []string{"checkpoint", "owner", "lease_timeout_ms", "claim_request", "parent"}

// stored is a lease hash as read.
type stored struct {
	exists                           bool
	checkpoint, owner, claim, parent string
	timeoutMs                        int64
}

func decodeStored(vals []any) (stored, error) {
	var s stored
	str := func(i int) string {
		if v, ok := vals[i].(string); ok {
			s.exists = true
			return v
		}
		return ""
	}
	s.checkpoint, s.owner, s.claim, s.parent = str(0), str(1), str(3), str(4)
	if t := str(2); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return s, fmt.Errorf("lease_timeout_ms %q: %w", t, err)
		}
		s.timeoutMs = ms
	}
	return s, nil
}

// FetchCheckpoint reads shard's checkpoint into shard.Checkpoint and returns
// chk.ErrSequenceIDNotFound itself, unwrapped, when there is none: the KCL
// compares with ==, and its waitOnParentShard takes that error for "the
// parent is gone, go ahead". For shards other workers hold it also refreshes
// the owner, lease timeout and claim the KCL's event loop decides on; for
// shards this worker holds, those stay as GetLease set them (see doc.go).
func (c *checkpointer) FetchCheckpoint(shard *par.ShardStatus) error {
	const op = "fetch checkpoint"
	if c.cfgErr != nil {
		return c.cfgErr
	}
	ctx, cancel := c.ctx()
	defer cancel()
	vals, err := c.client.HMGet(ctx, c.leaseKey(shard.ID), readFields...).Result()
	if err != nil {
		return c.fail(op, shard.ID, err, "")
	}
	s, err := decodeStored(vals)
	if err != nil {
		return c.fail(op, shard.ID, err, "")
	}
	c.refresh(shard, s)
	if s.checkpoint == "" {
		return chk.ErrSequenceIDNotFound
	}
	return nil
}

// refresh copies a stored lease into shard, under shard.Mux.
func (c *checkpointer) refresh(shard *par.ShardStatus, s stored) {
	if !s.exists {
		return
	}
	_, mine := c.holding(shard.ID)
	shard.Mux.Lock()
	defer shard.Mux.Unlock()
	if s.checkpoint != "" {
		shard.Checkpoint = s.checkpoint
	}
	if shard.ParentShardId == "" && s.parent != "" {
		shard.ParentShardId = s.parent
	}
	if mine {
		return
	}
	owner := s.owner
	if owner == c.worker {
		// A lease under our name that this process does not hold is left
		// over from an earlier life of this worker id. Shown as ours, the
		// KCL's event loop would count it and never take it; shown as free,
		// the event loop acquires it with a new token.
		owner = ""
	}
	shard.AssignedTo = owner
	shard.LeaseTimeout = msTime(s.timeoutMs)
	if shard.ClaimRequest != s.claim { // only on change: the KCL reads it unlocked
		shard.ClaimRequest = s.claim
	}
}

// RemoveLeaseInfo deletes shardID's lease and checkpoint: the KCL calls it
// when the shard is no longer listed by Kinesis.
func (c *checkpointer) RemoveLeaseInfo(shardID string) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	c.mu.Lock()
	delete(c.held, shardID)
	c.mu.Unlock()
	if _, err := c.run(removeScript, c.keys(shardID), shardID); err != nil {
		return c.fail("remove lease info", shardID, err, "")
	}
	return nil
}

// ListActiveWorkers refreshes shards from Redis (one pipelined read) and
// groups the unfinished ones by owner, for the KCL's rebalance (lease
// stealing). A shard without a live owner makes it return
// chk.ErrShardNotAssigned (wrapped), as the KCL expects: the rebalance then
// leaves the shard to ordinary acquisition instead of claiming it from a
// worker that is gone.
func (c *checkpointer) ListActiveWorkers(shards map[string]*par.ShardStatus) (map[string][]*par.ShardStatus, error) {
	const op = "list active workers"
	if c.cfgErr != nil {
		return nil, c.cfgErr
	}
	ids := make([]string, 0, len(shards))
	cmds := make([]*goredis.SliceCmd, 0, len(shards))
	ctx, cancel := c.ctx()
	defer cancel()
	_, err := c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for id := range shards {
			ids = append(ids, id)
			cmds = append(cmds, p.HMGet(ctx, c.leaseKey(id), readFields...))
		}
		return nil
	})
	if err != nil {
		return nil, c.fail(op, "*", err, "")
	}
	now := c.nowMs()
	workers := map[string][]*par.ShardStatus{}
	var unassigned string
	for i, id := range ids {
		shard := shards[id]
		s, err := decodeStored(cmds[i].Val())
		if err != nil {
			return nil, c.fail(op, id, err, "")
		}
		c.refresh(shard, s)
		if shard.GetCheckpoint() == chk.ShardEnd {
			continue
		}
		if owner := c.liveOwner(id, s, now); owner != "" {
			workers[owner] = append(workers[owner], shard)
		} else {
			unassigned = id
		}
	}
	if unassigned != "" {
		return nil, c.fail(op, unassigned, chk.ErrShardNotAssigned, "")
	}
	return workers, nil
}

// liveOwner is who holds shard id for the rebalance: this worker for its
// holdings, else the stored owner while the lease is live. An expired lease
// is free for anyone, not someone's to be stolen; a stale lease under this
// worker's name is free too (see refresh).
func (c *checkpointer) liveOwner(id string, s stored, now int64) string {
	if h, mine := c.holding(id); mine && !h.lost {
		return c.worker
	}
	if s.timeoutMs < now || s.owner == c.worker {
		return ""
	}
	return s.owner
}

func isNil(err error) bool { return errors.Is(err, goredis.Nil) }

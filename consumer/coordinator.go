package consumer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardflow/shardflow/checkpoints"
	"github.com/shardflow/shardflow/consumer/assign"
	"github.com/shardflow/shardflow/flow"
	"github.com/shardflow/shardflow/metrics"
)

// acquireConcurrency bounds the Acquire calls of one cycle.
const acquireConcurrency = 8

// coordinator is the worker's part in lease assignment. One goroutine (the
// loop) owns the runners and every decision: each cycle it heartbeats,
// renews the leases it holds, reads the store's view, computes the plan
// (consumer/assign) that every worker computes alike, acquires the shards
// the plan gives it and hands over those the plan gives to others.
type coordinator struct {
	c *Consumer

	// Owned by the loop goroutine.
	runners    map[string]*runner
	retryAfter map[string]time.Time // shard → no acquisition before (after its reader failed)
	failures   map[string]int
	group      []metrics.WorkerLeases // reused for the hook

	// stops tracks runner shutdowns (the drains run there).
	stops sync.WaitGroup

	// endedMu guards ended; wake has room for one signal.
	endedMu sync.Mutex
	ended   []*runner
	wake    chan struct{}

	leaveReq chan context.Context
	leaveErr chan error
	done     chan struct{}

	// The lister lists the stream's shards on its own goroutine, so that a
	// Kinesis that hangs never delays a heartbeat or a lease renewal.
	listNow    chan struct{} // room for one request
	listerStop chan struct{}
	listerDone chan struct{}

	viewMu sync.Mutex
	view   Assignment
	// lastCycle is when a cycle last read the store (Unix ms).
	lastCycle atomic.Int64
	// warned: when each repeating warning was last logged (loop only).
	warned map[string]warning
	// lost is set (loop only) once the lease store lost its data: the
	// worker reads nothing and writes nothing to the store again.
	lost error
	// tokens is the highest fencing token seen per shard (loop only).
	// Tokens only grow in one store: a lower one means the store lost
	// writes it had acknowledged (a stale replica promoted, an older
	// snapshot restored), which is a lost store too.
	tokens map[string]int64
}

type warning struct {
	at         time.Time
	suppressed int
}

// warnEvery is the least time between two lines of one repeating warning.
const warnEvery = 30 * time.Second

// warn logs a warning that repeats every cycle while its cause lasts (a
// stream that cannot be listed, a store that does not answer) at most once
// per warnEvery, with the number of repeats it left out.
func (co *coordinator) warn(key, msg string, args ...any) {
	if co.warned == nil {
		co.warned = map[string]warning{}
	}
	w := co.warned[key]
	now := time.Now()
	if !w.at.IsZero() && now.Sub(w.at) < warnEvery {
		w.suppressed++
		co.warned[key] = w
		return
	}
	if w.suppressed > 0 {
		args = append(args, "repeats_not_logged", w.suppressed)
	}
	co.c.log.Warn(msg, args...)
	co.warned[key] = warning{at: now}
}

func newCoordinator(c *Consumer) *coordinator {
	return &coordinator{
		c: c, runners: map[string]*runner{}, retryAfter: map[string]time.Time{}, failures: map[string]int{},
		wake: make(chan struct{}, 1), leaveReq: make(chan context.Context), leaveErr: make(chan error, 1),
		done: make(chan struct{}), listNow: make(chan struct{}, 1), listerStop: make(chan struct{}),
		listerDone: make(chan struct{}),
	}
}

// start binds the store's epoch and registers the worker (the store must
// answer), and starts the loop.
func (co *coordinator) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	epoch, err := co.c.store.Bind(ctx, checkpoints.NewEpoch(time.Now()))
	if err != nil {
		return err
	}
	co.c.log.Info("lease store bound", "store", co.c.store.Name(), "epoch", epoch.ID, "epoch_created", epoch.Created)
	if err := co.heartbeat(ctx, false); err != nil {
		return err
	}
	// A stream that cannot be listed yet is not a reason to fail: the
	// worker stays up, reports it (SourceHealthy) and keeps trying.
	if err := co.c.graph.refresh(ctx); err != nil {
		co.c.log.Error("cannot list the stream's shards; retrying", "err", err)
	}
	go co.lister() // owned by the coordinator: drain stops it
	go co.loop()   // owned by the consumer: leave ends it
	return nil
}

// requestListing asks the lister to list now (coalesced).
func (co *coordinator) requestListing() {
	select {
	case co.listNow <- struct{}{}:
	default:
	}
}

// lister lists the stream every ShardSyncInterval, at once on request, and
// every cycle while the listing is empty or failing.
func (co *coordinator) lister() {
	defer close(co.listerDone)
	c := co.c
	var lastWarn time.Time
	for {
		_, _, listed := c.graph.snapshot()
		wait := c.cfg.ShardSyncInterval - time.Since(listed)
		if known, _, _ := c.graph.snapshot(); len(known) == 0 {
			// A stream has at least one shard: until one shows (or while
			// listing fails), list every cycle.
			wait = c.cfg.CoordinationInterval
		}
		timer := time.NewTimer(max(wait, 0))
		select {
		case <-co.listerStop:
			timer.Stop()
			return
		case <-co.listNow:
			timer.Stop()
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := c.graph.refresh(ctx)
		cancel()
		if err != nil && time.Since(lastWarn) > warnEvery {
			c.log.Warn("cannot list the stream's shards", "err", err)
			lastWarn = time.Now()
		}
		if err != nil {
			// Back off a cycle before trying again.
			select {
			case <-co.listerStop:
				return
			case <-time.After(c.cfg.CoordinationInterval):
			}
		}
	}
}

func (co *coordinator) heartbeat(ctx context.Context, leaving bool) error {
	return co.c.store.Heartbeat(ctx, checkpoints.Worker{
		ID: co.c.cfg.WorkerID, Expires: time.Now().Add(co.c.cfg.LeaseDuration), Leaving: leaving})
}

// jitter spreads the workers' cycles (±10%).
func (co *coordinator) jitter() time.Duration {
	d := co.c.cfg.CoordinationInterval
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (co *coordinator) loop() {
	defer close(co.done)
	timer := time.NewTimer(co.jitter())
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			co.cycle(false)
			timer.Reset(co.jitter())
		case <-co.wake:
			co.reap()
		case ctx := <-co.leaveReq:
			co.leaveErr <- co.drain(ctx)
			return
		}
	}
}

// runnerEnded is called by a runner (on any goroutine) once it ended.
func (co *coordinator) runnerEnded(r *runner) {
	co.endedMu.Lock()
	co.ended = append(co.ended, r)
	co.endedMu.Unlock()
	select {
	case co.wake <- struct{}{}:
	default:
	}
}

// reap forgets the runners that ended and decides what follows.
func (co *coordinator) reap() {
	co.endedMu.Lock()
	ended := co.ended
	co.ended = nil
	co.endedMu.Unlock()
	for _, r := range ended {
		if co.runners[r.shard] == r {
			delete(co.runners, r.shard)
		}
		// The KCL worker of a reader that ended by itself still ticks.
		r.stop("", 0, &co.stops)
		kind, err := r.outcome()
		switch kind {
		case endShardEnd:
			co.requestListing() // its children may be new to this worker
			delete(co.failures, r.shard)
		case endFailed:
			n := co.failures[r.shard] + 1
			co.failures[r.shard] = n
			wait := min(time.Duration(1<<min(n-1, 5))*time.Second, 30*time.Second)
			co.retryAfter[r.shard] = time.Now().Add(wait)
			co.c.health.readFailed(r.shard, time.Now(), err)
			co.c.log.Warn("shard reader failed; the lease is released and taken again after a backoff",
				"shard", r.shard, "err", err, "retry_in", wait, "failures", n)
		}
	}
}

// cycle is one coordination step; leaving (drain) only heartbeats and
// renews.
func (co *coordinator) cycle(leaving bool) {
	c := co.c
	co.reap()
	if co.lost != nil {
		// Alive on purpose (Live stays true: a restart would bind the
		// emptied store afresh and read it from initial_position).
		co.lastCycle.Store(time.Now().UnixMilli())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(c.cfg.CoordinationInterval, opTimeout))
	defer cancel()
	now := time.Now()
	if err := co.heartbeat(ctx, leaving); err != nil {
		co.warn("heartbeat", "heartbeat", "err", err)
	}
	co.renew(ctx, now)
	if leaving {
		return
	}
	shards, byID, listed := c.graph.snapshot()
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = s.ID
	}
	written := c.checkpointsWritten() // before View: each must be in it
	view, err := c.store.View(ctx, ids, now)
	if errors.Is(err, checkpoints.ErrStoreLost) {
		co.storeLost(err)
		return
	}
	if err != nil {
		co.warn("view", "read the lease store", "err", err)
		return
	}
	if err := co.checkWentBack(view, written); err != nil {
		co.storeLost(err)
		return
	}
	co.lastCycle.Store(now.UnixMilli())
	if co.childrenUnknown(shards, view) && now.Sub(listed) > time.Second {
		co.requestListing() // a shard ended: its children are in the stream, not yet in this listing
	}
	plan, open := co.plan(view, shards, byID, now, "")
	co.publish(view, plan, open, now)
	// The first cycle runs one interval after start registered this
	// worker, so workers that start together see each other before any of
	// them takes shards (a lone first worker would take them all and hand
	// most of them over a second later).
	co.act(ctx, view, plan, byID, now)
}

// childrenUnknown reports a shard that ended (SHARD_END in the store)
// whose children this worker's listing does not have yet.
func (co *coordinator) childrenUnknown(shards []Shard, view checkpoints.View) bool {
	hasChild := map[string]bool{}
	for _, s := range shards {
		for _, p := range s.Parents {
			hasChild[p] = true
		}
	}
	for _, s := range shards {
		if view.Leases[s.ID].Checkpoint == checkpoints.ShardEnd && !hasChild[s.ID] {
			return true
		}
	}
	return false
}

// renew extends every lease this worker holds (draining ones included) in
// one store call, with each shard's measured load.
func (co *coordinator) renew(ctx context.Context, now time.Time) {
	if len(co.runners) == 0 {
		return
	}
	held := make([]checkpoints.Holding, 0, len(co.runners))
	loads := make([]float64, 0, len(co.runners))
	rs := make([]*runner, 0, len(co.runners))
	for _, r := range co.runners {
		if r.lost.Load() || r.isEnded() {
			continue // a runner that ended released its lease already
		}
		rs = append(rs, r)
		held = append(held, r.hold)
		loads = append(loads, co.measure(r, now))
	}
	for i, err := range co.c.store.Renew(ctx, held, loads, now, co.c.cfg.LeaseDuration) {
		switch {
		case err == nil:
			rs[i].extend(now.Add(co.c.cfg.LeaseDuration))
		case errors.Is(err, checkpoints.ErrLeaseLost):
			rs[i].markLost(err)
		default:
			// The local expiry stops the shard if this goes on.
			co.c.log.Warn("renew lease", "shard", rs[i].shard, "err", err)
		}
	}
}

// measure updates a runner's smoothed load (bytes/s) and returns it.
func (co *coordinator) measure(r *runner, now time.Time) float64 {
	dt := now.Sub(r.loadAt).Seconds()
	if dt <= 0 {
		return r.load
	}
	rate := float64(r.bytesRead.Swap(0)) / dt
	alpha := 1 - math.Exp2(-dt/co.c.cfg.LoadHalfLife.Seconds())
	if now.Sub(r.acquired) < co.c.cfg.LoadHalfLife && r.load == 0 {
		alpha = 1 // no history: take the first measurement
	}
	r.load += alpha * (rate - r.load)
	r.loadAt = now
	return r.load
}

// plan computes the group's plan from the view; open lists the readable
// shards that have not ended. exclude is a worker to treat as leaving.
func (co *coordinator) plan(view checkpoints.View, shards []Shard, byID map[string]Shard, now time.Time, exclude string) (assign.Plan, []assign.Shard) {
	c := co.c
	workers := make([]assign.Worker, 0, len(view.Workers)+1)
	seenSelf := false
	for _, w := range view.Workers {
		aw := assign.Worker{ID: w.ID, Leaving: w.Leaving || w.ID == exclude}
		if w.ID == c.cfg.WorkerID {
			seenSelf = true
			aw.MaxShards = c.cfg.MaxLeases
		}
		workers = append(workers, aw)
	}
	if !seenSelf { // this worker's heartbeat failed this cycle; it is alive
		workers = append(workers, assign.Worker{ID: c.cfg.WorkerID, MaxShards: c.cfg.MaxLeases, Leaving: c.cfg.WorkerID == exclude})
	}
	var open []assign.Shard
	for _, s := range shards {
		l := view.Leases[s.ID]
		if l.Checkpoint == checkpoints.ShardEnd || !readable(s, byID, view.Leases) {
			continue
		}
		as := assign.Shard{ID: s.ID, Owner: l.LiveOwner(now), Successor: l.ReservedFor(now), Acquired: l.Acquired, Load: l.Load}
		if r := co.runners[s.ID]; r != nil {
			// What this worker holds is its own, whatever the store's
			// copy says between renewals.
			as.Owner, as.Acquired, as.Load = c.cfg.WorkerID, r.acquired, r.load
			if r.isStopping() {
				as.Successor = r.successorName()
			}
		}
		open = append(open, as)
	}
	return assign.Compute(workers, open, assign.Options{
		Mode: c.cfg.Balance, Margin: c.cfg.BalanceMargin, MinTenure: c.cfg.BalanceMinTenure, Now: now,
	}), open
}

// act moves this worker toward the plan: acquire what it should hold and
// can, hand over what others should hold.
func (co *coordinator) act(ctx context.Context, view checkpoints.View, plan assign.Plan, byID map[string]Shard, now time.Time) {
	c := co.c
	me := c.cfg.WorkerID
	var want []checkpoints.Lease
	for id, target := range plan.Target {
		r := co.runners[id]
		switch {
		case target == me && r == nil:
			l := view.Leases[id]
			if l.Shard == "" {
				l.Shard = id
			}
			if owner := l.LiveOwner(now); owner != "" && owner != me {
				continue // its owner hands it over first
			}
			if res := l.ReservedFor(now); res != "" && res != me {
				continue
			}
			if now.Before(co.retryAfter[id]) {
				continue
			}
			want = append(want, l)
		case r != nil && target != me && target != "" && !r.isStopping():
			co.handoff(ctx, r, target, now)
		}
	}
	if len(want) == 0 {
		return
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Shard < want[j].Shard })
	type result struct {
		before checkpoints.Lease
		got    checkpoints.Lease
		err    error
	}
	results := make([]result, len(want))
	sem := make(chan struct{}, acquireConcurrency)
	var wg sync.WaitGroup
	for i, l := range want {
		wg.Add(1)
		sem <- struct{}{}
		go func() { // owned by act: it waits for every one
			defer func() { <-sem; wg.Done() }()
			got, err := c.store.Acquire(ctx, l.Shard, me, now, c.cfg.LeaseDuration)
			results[i] = result{before: l, got: got, err: err}
		}()
	}
	wg.Wait()
	for _, res := range results {
		if errors.Is(res.err, checkpoints.ErrStoreLost) {
			co.storeLost(res.err)
			return
		}
	}
	for _, res := range results {
		id := res.before.Shard
		if res.err != nil {
			if !errors.Is(res.err, checkpoints.ErrLeaseHeld) && !errors.Is(res.err, checkpoints.ErrLeaseReserved) &&
				!errors.Is(res.err, checkpoints.ErrShardEnded) {
				c.log.Warn("acquire lease", "shard", id, "err", res.err)
			}
			continue
		}
		how := metrics.AcquiredFree
		switch {
		case res.before.ReservedFor(now) == me:
			how = metrics.AcquiredHandoff
		case res.before.Owner != "" && res.before.Owner != me:
			how = metrics.AcquiredTakeover
		}
		r := newRunner(c, res.got, byID[id], now)
		if err := r.run(); err != nil {
			c.log.Error("start shard reader", "shard", id, "err", err)
			r.finish(endFailed, err)
			continue
		}
		co.runners[id] = r
		c.cfg.Hooks.LeaseAcquired(id, how)
		c.log.Debug("lease acquired", "shard", id, "how", how, "token", res.got.Token)
		co.sawToken(id, res.got.Token)
	}
}

// sawToken records a fencing token seen for shard.
func (co *coordinator) sawToken(shard string, token int64) {
	if co.tokens == nil {
		co.tokens = map[string]int64{}
	}
	if token > co.tokens[shard] {
		co.tokens[shard] = token
	}
}

// checkWentBack answers ErrStoreLost when the store is behind what it
// acknowledged to this worker: a lease's token lower than one this worker
// saw, or, under the very token this process checkpointed with, a
// checkpoint behind the one it wrote (written: copied before the view was
// read). Nobody else writes under a token this worker held, and a rewind
// (`shardflow checkpoints reset`) moves the token on. Otherwise it records
// the view's tokens.
func (co *coordinator) checkWentBack(view checkpoints.View, written map[string]checkpointWrite) error {
	const why = "the store lost writes it had acknowledged: a replica that had not caught up promoted, or an older snapshot restored"
	for id, l := range view.Leases {
		if seen := co.tokens[id]; l.Token < seen {
			return fmt.Errorf("%w: shard %s: lease token went back from %d to %d (%s)",
				checkpoints.ErrStoreLost, id, seen, l.Token, why)
		}
		if w, ok := written[id]; ok && l.Token == w.token && checkpointBehind(l.Checkpoint, w.seq) {
			return fmt.Errorf("%w: shard %s: checkpoint went back from %s to %q under token %d (%s)",
				checkpoints.ErrStoreLost, id, w.seq, l.Checkpoint, l.Token, why)
		}
	}
	for id, l := range view.Leases {
		co.sawToken(id, l.Token)
	}
	return nil
}

// checkpointBehind reports whether stored is an earlier checkpoint than
// wrote: sequence numbers are decimal integers of up to 128 bits;
// ShardEnd is after every sequence number, "" before.
func checkpointBehind(stored, wrote string) bool {
	switch {
	case stored == wrote || wrote == "":
		return false
	case wrote == checkpoints.ShardEnd:
		return true
	case stored == checkpoints.ShardEnd:
		return false
	case stored == "":
		return true
	}
	return flow.CompareSequence(stored, wrote) < 0
}

// storeLost stops this worker for good: the lease store it bound lost its
// data (emptied, replaced), so none of its leases, checkpoints or fences
// mean what they did. Every shard stops at once, without a checkpoint (the
// store's would be one of another life) and without a handoff; the worker
// takes nothing again and reports it (SourceHealthy) until restarted by an
// operator who chose how to go on.
func (co *coordinator) storeLost(err error) {
	if co.lost != nil {
		return
	}
	co.lost = err
	c := co.c
	c.health.lostStore(err)
	shards := make([]string, 0, len(co.runners))
	for id, r := range co.runners {
		shards = append(shards, id)
		r.markLost(err)
	}
	sort.Strings(shards)
	c.log.Error("the lease store lost its data: this worker stopped reading and will not start again from initial_position by itself",
		"store", c.store.Name(), "err", err, "stopped_shards", shards,
		"choices", "restore the store from a backup, or rewind with `shardflow checkpoints reset -c FILE --to ...`; then restart the service (docs/runbook.md)")
	co.lastCycle.Store(time.Now().UnixMilli())
}

// handoff starts moving r's shard to successor: the store names the
// successor (so that every worker's plan counts the shard for it), then the
// runner drains, checkpoints and releases the lease to it.
func (co *coordinator) handoff(ctx context.Context, r *runner, successor string, now time.Time) {
	if err := co.c.store.Handoff(ctx, r.hold, successor, now); err != nil {
		if errors.Is(err, checkpoints.ErrLeaseLost) {
			r.markLost(err)
			return
		}
		co.c.log.Warn("name the successor of a handoff", "shard", r.shard, "successor", successor, "err", err)
	}
	co.c.log.Info("handing shard over", "shard", r.shard, "successor", successor)
	r.stop(successor, co.c.cfg.HandoffTimeout, &co.stops)
}

// publish records the cycle's view for Assignment, metrics and health.
func (co *coordinator) publish(view checkpoints.View, plan assign.Plan, open []assign.Shard, now time.Time) {
	held := make(map[string]string, len(open))
	perWorker := map[string]int{}
	var unowned []string
	for _, s := range open {
		held[s.ID] = s.Owner
		if s.Owner == "" {
			unowned = append(unowned, s.ID)
		} else {
			perWorker[s.Owner]++
		}
	}
	ids := make([]string, 0, len(view.Workers))
	for _, w := range view.Workers {
		ids = append(ids, w.ID)
	}
	sort.Strings(ids)
	co.group = co.group[:0]
	for _, id := range ids {
		co.group = append(co.group, metrics.WorkerLeases{Worker: id, Held: perWorker[id]})
	}
	co.c.cfg.Hooks.LeaseGroup(co.group, plan.Balance)
	co.c.health.ownership(now, unowned)
	co.viewMu.Lock()
	co.view = Assignment{Worker: co.c.cfg.WorkerID, Workers: ids, Held: held, Balance: plan.Balance, At: now}
	co.viewMu.Unlock()
}

func (co *coordinator) lastView() Assignment {
	co.viewMu.Lock()
	defer co.viewMu.Unlock()
	return co.view
}

// leave runs the drain on the loop goroutine and waits for it.
func (co *coordinator) leave(ctx context.Context) error {
	select {
	case co.leaveReq <- ctx:
		return <-co.leaveErr
	case <-co.done:
		return nil
	}
}

// drain hands every held shard to the worker the plan (without this one)
// names, keeps renewing the draining leases until every runner ended, and
// deregisters. When ctx ends first, processors stop waiting for acks.
func (co *coordinator) drain(ctx context.Context) error {
	c := co.c
	now := time.Now()
	sctx, cancel := context.WithTimeout(ctx, opTimeout)
	if err := co.heartbeat(sctx, true); err != nil {
		c.log.Warn("heartbeat (leaving)", "err", err)
	}
	shards, byID, _ := c.graph.snapshot()
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = s.ID
	}
	target := map[string]string{}
	if view, err := c.store.View(sctx, ids, now); err == nil {
		plan, _ := co.plan(view, shards, byID, now, c.cfg.WorkerID)
		target = plan.Target
	} else {
		c.log.Warn("read the lease store before handing shards over; releasing them to anyone", "err", err)
	}
	for _, r := range co.runners {
		successor := target[r.shard]
		if successor != "" && !r.isStopping() {
			if err := c.store.Handoff(sctx, r.hold, successor, now); err != nil {
				c.log.Warn("name the successor of a handoff", "shard", r.shard, "successor", successor, "err", err)
			}
		}
		// The consumer's drain budget bounds these drains (ctx).
		r.stop(successor, 0, &co.stops)
	}
	cancel()
	var err error
	timer := time.NewTimer(co.jitter())
	defer timer.Stop()
	for len(co.runners) > 0 {
		select {
		case <-co.wake:
			co.reap()
		case <-timer.C:
			co.cycle(true)
			timer.Reset(co.jitter())
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
				c.hardCancel() // processors stop waiting; what is acked is checkpointed
			}
			ctx = context.Background()
		}
	}
	co.stops.Wait()
	close(co.listerStop)
	<-co.listerDone
	rctx, rcancel := context.WithTimeout(context.Background(), opTimeout)
	defer rcancel()
	if rerr := c.store.RemoveWorker(rctx, c.cfg.WorkerID); rerr != nil {
		c.log.Warn("deregister worker", "err", rerr)
	}
	return err
}

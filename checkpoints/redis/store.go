package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/checkpoints"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "sf"

// opTimeout bounds a call whose context has no deadline: a lease store that
// hangs would stall a worker's coordination.
const opTimeout = 5 * time.Second

// forgetWorkersAfter is how long an expired heartbeat is kept (for
// `shardflow leases` to show a worker that died) before a heartbeat of
// another worker deletes it.
const forgetWorkersAfter = time.Hour

// Options configures a Store.
type Options struct {
	// Prefix starts every key (default "sf"). It must not contain '{' or
	// '}': the application's hash tag must be the first one in the key.
	Prefix string
	// Application names the key space and its hash tag (required).
	Application string
}

// Store is one application's lease, checkpoint and heartbeat store on
// Redis. It is safe for concurrent use by any number of workers.
type Store struct {
	client goredis.UniversalClient
	app    string
	base   string // "<prefix>:{<app>}:"
	// bound is the epoch Bind read (nil before): View and Acquire check
	// the stored one against it.
	bound atomic.Pointer[checkpoints.Epoch]
}

var _ checkpoints.Store = (*Store)(nil)

// New returns the store of opts.Application on client. It checks the
// options, not the connection (Ping does).
func New(client goredis.UniversalClient, opts Options) (*Store, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	var why string
	switch {
	case client == nil:
		why = "no Redis client"
	case opts.Application == "":
		why = "no application"
	case strings.ContainsAny(opts.Application, "{}"):
		why = fmt.Sprintf("application %q contains '{' or '}' (it is the key's hash tag)", opts.Application)
	case strings.ContainsAny(prefix, "{}"):
		why = fmt.Sprintf("prefix %q contains '{' or '}' (it would take the hash tag's place)", prefix)
	}
	if why != "" {
		return nil, fmt.Errorf("checkpoints/redis: %s", why)
	}
	return &Store{client: client, app: opts.Application,
		base: strings.TrimSuffix(prefix, ":") + ":{" + opts.Application + "}:"}, nil
}

// Name implements checkpoints.Store.
func (s *Store) Name() string { return "redis " + s.base + "*" }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("checkpoints/redis: application %s: ping: %w", s.app, err)
	}
	return nil
}

func (s *Store) leaseKey(shard string) string { return s.base + "lease:" + shard }
func (s *Store) shardsKey() string            { return s.base + "shards" }
func (s *Store) workersKey() string           { return s.base + "workers" }
func (s *Store) epochKey() string             { return s.base + "epoch" }

// Bind implements checkpoints.Store: one script call that writes epoch
// unless the store has one, and answers the stored one.
func (s *Store) Bind(ctx context.Context, epoch checkpoints.Epoch) (checkpoints.Epoch, error) {
	if b := s.bound.Load(); b != nil {
		return *b, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	v, err := bindScript.Run(ctx, s.client, []string{s.epochKey()}, encodeEpoch(epoch)).Text()
	if err != nil {
		return checkpoints.Epoch{}, s.fail("bind", "-", err, "")
	}
	got, err := decodeEpoch(v)
	if err != nil {
		return checkpoints.Epoch{}, s.fail("bind", "-", err, "key "+s.epochKey())
	}
	s.bound.CompareAndSwap(nil, &got)
	return *s.bound.Load(), nil
}

// boundID is the bound epoch's id, "" before Bind (the scripts then check
// nothing).
func (s *Store) boundID() string {
	if b := s.bound.Load(); b != nil {
		return b.ID
	}
	return ""
}

// checkEpoch compares what the store holds (val; nil when the key is gone)
// with the bound epoch.
func (s *Store) checkEpoch(op string, val *string) error {
	b := s.bound.Load()
	if b == nil {
		return nil
	}
	if val == nil {
		return s.fail(op, "*", checkpoints.ErrStoreLost, fmt.Sprintf(
			"its epoch %s is gone: the store was emptied or replaced", b))
	}
	got, err := decodeEpoch(*val)
	if err != nil {
		return s.fail(op, "*", err, "key "+s.epochKey())
	}
	if got.ID != b.ID {
		return s.fail(op, "*", checkpoints.ErrStoreLost, fmt.Sprintf(
			"its epoch is %s, not the bound %s: the store was emptied and started again", got, b))
	}
	return nil
}

// encodeEpoch is the epoch key's value: "<id> <created ms>".
func encodeEpoch(e checkpoints.Epoch) string {
	return e.ID + " " + strconv.FormatInt(e.Created.UnixMilli(), 10)
}

func decodeEpoch(v string) (checkpoints.Epoch, error) {
	id, created, ok := strings.Cut(v, " ")
	ms, err := strconv.ParseInt(created, 10, 64)
	if !ok || err != nil || id == "" {
		return checkpoints.Epoch{}, fmt.Errorf("epoch %q is not \"<id> <ms>\"", v)
	}
	return checkpoints.Epoch{ID: id, Created: msTime(ms)}, nil
}

func (s *Store) fail(op, shard string, err error, detail string) error {
	return &checkpoints.LeaseError{Op: op, Store: s.Name(), Shard: shard, Detail: detail, Err: err}
}

func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, opTimeout)
}

// Heartbeat implements checkpoints.Store: one script call.
func (s *Store) Heartbeat(ctx context.Context, w checkpoints.Worker) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	err := heartbeatScript.Run(ctx, s.client, []string{s.workersKey()},
		w.ID, encodeWorker(w), w.Expires.Add(-forgetWorkersAfter).UnixMilli()).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return s.fail("heartbeat", "-", err, "worker "+w.ID)
	}
	return nil
}

// RemoveWorker implements checkpoints.Store.
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	if err := s.client.HDel(ctx, s.workersKey(), id).Err(); err != nil {
		return s.fail("remove worker", "-", err, "worker "+id)
	}
	return nil
}

// leaseFields are the lease hash's fields, in the order View reads them.
var leaseFields = []string{"owner", "lease_timeout_ms", "token", "checkpoint", "successor", "reserved_until_ms", "acquired_ms", "load"}

// View implements checkpoints.Store: one pipeline (the worker hash and one
// HMGET per shard).
func (s *Store) View(ctx context.Context, shards []string, now time.Time) (checkpoints.View, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var workers *goredis.MapStringStringCmd
	var epoch *goredis.StringCmd
	cmds := make([]*goredis.SliceCmd, len(shards))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		epoch = p.Get(ctx, s.epochKey())
		workers = p.HGetAll(ctx, s.workersKey())
		for i, id := range shards {
			cmds[i] = p.HMGet(ctx, s.leaseKey(id), leaseFields...)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) { // Nil: no epoch key (checked below)
		return checkpoints.View{}, s.fail("view", "*", err, "")
	}
	var stored *string
	if e, err := epoch.Result(); err == nil {
		stored = &e
	}
	if err := s.checkEpoch("view", stored); err != nil {
		return checkpoints.View{}, err
	}
	v := checkpoints.View{Leases: make(map[string]checkpoints.Lease, len(shards))}
	for id, val := range workers.Val() {
		w, err := decodeWorker(id, val)
		if err != nil {
			return checkpoints.View{}, s.fail("view", "-", err, "worker "+id)
		}
		if !w.Expires.Before(now) {
			v.Workers = append(v.Workers, w)
		}
	}
	for i, id := range shards {
		l, ok, err := decodeLease(id, cmds[i].Val())
		if err != nil {
			return checkpoints.View{}, s.fail("view", id, err, "")
		}
		if ok {
			v.Leases[id] = l
		}
	}
	return v, nil
}

// Acquire implements checkpoints.Store: one script call.
func (s *Store) Acquire(ctx context.Context, shard, worker string, now time.Time, ttl time.Duration) (checkpoints.Lease, error) {
	const op = "acquire"
	r, err := s.run(ctx, acquireScript, []string{s.leaseKey(shard), s.shardsKey(), s.epochKey()},
		shard, worker, now.UnixMilli(), now.Add(ttl).UnixMilli(), s.boundID())
	if err != nil {
		return checkpoints.Lease{}, s.fail(op, shard, err, "")
	}
	switch r.status {
	case "OK":
		return r.lease(shard), nil
	case "HELD":
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrLeaseHeld,
			fmt.Sprintf("owner %s until %s", r.owner, msTime(r.timeoutMs).Format("15:04:05.000")))
	case "RESERVED":
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrLeaseReserved, "for "+r.successor)
	case "ENDED":
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrShardEnded, "")
	case "STORE_LOST":
		return checkpoints.Lease{}, s.fail(op, shard, checkpoints.ErrStoreLost,
			fmt.Sprintf("its epoch is no longer %s; nothing written", s.bound.Load()))
	}
	return checkpoints.Lease{}, s.fail(op, shard, fmt.Errorf("unexpected script status %q", r.status), "")
}

// Renew implements checkpoints.Store: one script call for every holding.
func (s *Store) Renew(ctx context.Context, held []checkpoints.Holding, loads []float64, now time.Time, ttl time.Duration) []error {
	errs := make([]error, len(held))
	if len(held) == 0 {
		return errs
	}
	keys := make([]string, len(held))
	args := make([]any, 0, 2+3*len(held))
	args = append(args, now.UnixMilli(), now.Add(ttl).UnixMilli())
	for i, h := range held {
		keys[i] = s.leaseKey(h.Shard)
		load := ""
		if i < len(loads) && loads[i] > 0 {
			load = strconv.FormatFloat(loads[i], 'f', 1, 64)
		}
		args = append(args, h.Worker, h.Token, load)
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	v, err := renewScript.Run(ctx, s.client, keys, args...).Slice()
	if err == nil && len(v) != len(held) {
		err = fmt.Errorf("unexpected script reply %v", v)
	}
	for i, h := range held {
		switch {
		case err != nil:
			errs[i] = s.fail("renew", h.Shard, err, "")
		case v[i] != "OK":
			errs[i] = s.fail("renew", h.Shard, checkpoints.ErrLeaseLost, fmt.Sprintf("%v; held token %d", v[i], h.Token))
		}
	}
	return errs
}

// Checkpoint implements checkpoints.Store: one script call.
func (s *Store) Checkpoint(ctx context.Context, h checkpoints.Holding, seq string, now time.Time, ttl time.Duration) error {
	const op = "checkpoint"
	if seq == "" {
		return s.fail(op, h.Shard, errors.New("empty sequence number"), "")
	}
	r, err := s.run(ctx, checkpointScript, []string{s.leaseKey(h.Shard), s.shardsKey()},
		h.Worker, h.Token, now.UnixMilli(), now.Add(ttl).UnixMilli(), seq, h.Shard)
	if err != nil {
		return s.fail(op, h.Shard, err, "sequence "+seq)
	}
	if r.status != "OK" {
		return s.fail(op, h.Shard, checkpoints.ErrLeaseLost, lostDetail(r, h)+"; sequence "+seq+" not written")
	}
	return nil
}

// Handoff implements checkpoints.Store: one script call.
func (s *Store) Handoff(ctx context.Context, h checkpoints.Holding, successor string, now time.Time) error {
	r, err := s.run(ctx, handoffScript, []string{s.leaseKey(h.Shard)}, h.Worker, h.Token, now.UnixMilli(), successor)
	if err != nil {
		return s.fail("handoff", h.Shard, err, "to "+successor)
	}
	if r.status != "OK" {
		return s.fail("handoff", h.Shard, checkpoints.ErrLeaseLost, lostDetail(r, h))
	}
	return nil
}

// Release implements checkpoints.Store: one script call. A lease that
// expired but that nobody took since (same owner, same token) is released
// too: nobody else can have written for it.
func (s *Store) Release(ctx context.Context, h checkpoints.Holding, successor string, now time.Time, reserve time.Duration) error {
	until := int64(0)
	if successor != "" {
		until = now.Add(reserve).UnixMilli()
	}
	r, err := s.run(ctx, releaseScript, []string{s.leaseKey(h.Shard)}, h.Worker, h.Token, successor, until)
	if err != nil {
		return s.fail("release", h.Shard, err, "")
	}
	if r.status != "OK" {
		return s.fail("release", h.Shard, checkpoints.ErrLeaseLost, lostDetail(r, h))
	}
	return nil
}

// Remove implements checkpoints.Store: one script call.
func (s *Store) Remove(ctx context.Context, shard string) error {
	if _, err := s.run(ctx, removeScript, []string{s.leaseKey(shard), s.shardsKey()}, shard); err != nil {
		return s.fail("remove", shard, err, "")
	}
	return nil
}

// Shards lists every shard that has a lease hash (for tools: `shardflow
// leases` shows shards that left the stream too).
func (s *Store) Shards(ctx context.Context) ([]string, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	ids, err := s.client.SMembers(ctx, s.shardsKey()).Result()
	if err != nil {
		return nil, s.fail("list shards", "*", err, "")
	}
	return ids, nil
}

// SetCheckpoint overwrites shard's checkpoint without any lease check: for
// operators rewinding a stopped pipeline (`shardflow checkpoints reset`).
// An empty seq deletes the checkpoint (the shard starts again from
// initial_position).
func (s *Store) SetCheckpoint(ctx context.Context, shard, seq string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	var err error
	if seq == "" {
		err = s.client.HDel(ctx, s.leaseKey(shard), "checkpoint").Err()
	} else {
		_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.HSet(ctx, s.leaseKey(shard), "checkpoint", seq)
			p.SAdd(ctx, s.shardsKey(), shard)
			return nil
		})
	}
	if err != nil {
		return s.fail("set checkpoint", shard, err, "")
	}
	return nil
}

func lostDetail(r reply, h checkpoints.Holding) string {
	if r.status == "EXPIRED" {
		return fmt.Sprintf("expired at %s", msTime(r.timeoutMs).Format("15:04:05.000"))
	}
	owner := r.owner
	if owner == "" {
		owner = "nobody"
	}
	return fmt.Sprintf("%s held token %d, now owner %s with token %d", h.Worker, h.Token, owner, r.token)
}

// msTime converts stored Unix ms to a time; 0 is the zero time.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// encodeWorker is a worker hash value: "<expires ms> <leaving 0|1>".
func encodeWorker(w checkpoints.Worker) string {
	leaving := "0"
	if w.Leaving {
		leaving = "1"
	}
	return strconv.FormatInt(w.Expires.UnixMilli(), 10) + " " + leaving
}

func decodeWorker(id, v string) (checkpoints.Worker, error) {
	exp, leaving, ok := strings.Cut(v, " ")
	ms, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil {
		return checkpoints.Worker{}, fmt.Errorf("heartbeat %q is not \"<ms> <0|1>\"", v)
	}
	return checkpoints.Worker{ID: id, Expires: msTime(ms), Leaving: leaving == "1"}, nil
}

// decodeLease reads an HMGET of leaseFields; ok is false when the hash
// does not exist.
func decodeLease(shard string, vals []any) (checkpoints.Lease, bool, error) {
	l := checkpoints.Lease{Shard: shard}
	exists := false
	str := func(i int) string {
		if i < len(vals) {
			if v, ok := vals[i].(string); ok {
				exists = true
				return v
			}
		}
		return ""
	}
	num := func(i int) (int64, error) {
		s := str(i)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", leaseFields[i], s, err)
		}
		return n, nil
	}
	l.Owner, l.Checkpoint, l.Successor = str(0), str(3), str(4)
	var err error
	var ms [3]int64
	for j, i := range []int{1, 5, 6} {
		if ms[j], err = num(i); err != nil {
			return l, true, err
		}
	}
	l.Expires, l.ReservedUntil, l.Acquired = msTime(ms[0]), msTime(ms[1]), msTime(ms[2])
	if l.Token, err = num(2); err != nil {
		return l, true, err
	}
	if s := str(7); s != "" {
		if l.Load, err = strconv.ParseFloat(s, 64); err != nil {
			return l, true, fmt.Errorf("load %q: %w", s, err)
		}
	}
	return l, exists, nil
}

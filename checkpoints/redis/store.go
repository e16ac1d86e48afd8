package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	chk "github.com/vmware/vmware-go-kcl-v2/clientlibrary/checkpoint"
	kclcfg "github.com/vmware/vmware-go-kcl-v2/clientlibrary/config"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "sf"

// opTimeout bounds every Redis call: the Checkpointer interface carries no
// context, and a lease store that can hang would stall the KCL's event loop.
const opTimeout = 5 * time.Second

// Options configures a Store.
type Options struct {
	// Prefix starts every key (default "sf"). It must not contain '{' or
	// '}': the application's hash tag must be the first one in the key.
	Prefix string
	// Application names the key space and its hash tag. Empty: the KCL
	// configuration's TableName, else its ApplicationName.
	Application string
	// LeaseDuration is how long an acquisition, renewal or checkpoint keeps
	// the lease. Zero: the KCL configuration's FailoverTimeMillis, so the
	// store and the KCL's renewal period agree.
	LeaseDuration time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// Store builds fenced KCL checkpointers on one Redis client. It is safe for
// concurrent use and can serve several workers (one Checkpointer each).
type Store struct {
	client goredis.UniversalClient
	opts   Options
}

// New returns a Store on client. Nothing is checked here: the KCL calls
// Init, which validates the configuration and pings Redis.
func New(client goredis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{client: client, opts: opts}
}

// Checkpointer returns the checkpointer of the worker whose KCL
// configuration is k (k.WorkerID owns the leases it takes). Build one per
// worker: the fencing tokens a worker holds live in it.
func (s *Store) Checkpointer(k *kclcfg.KinesisClientLibConfiguration) chk.Checkpointer {
	return s.checkpointer(k)
}

func (s *Store) checkpointer(k *kclcfg.KinesisClientLibConfiguration) *checkpointer {
	app := s.opts.Application
	if app == "" {
		app = k.TableName
	}
	if app == "" {
		app = k.ApplicationName
	}
	lease := s.opts.LeaseDuration
	if lease <= 0 {
		lease = time.Duration(k.FailoverTimeMillis) * time.Millisecond
	}
	c := &checkpointer{
		client:       s.client,
		now:          s.opts.Now,
		app:          app,
		worker:       k.WorkerID,
		lease:        lease,
		stealing:     k.EnableLeaseStealing,
		claimTimeout: time.Duration(k.LeaseStealingClaimTimeoutMillis) * time.Millisecond,
		renewEvery:   time.Duration(k.LeaseRefreshWaitTime) * time.Millisecond,
		base:         strings.TrimSuffix(s.opts.Prefix, ":") + ":{" + app + "}:",
		held:         map[string]holding{},
	}
	c.cfgErr = c.validate(s.opts.Prefix)
	return c
}

// checkpointer is one worker's chk.Checkpointer.
type checkpointer struct {
	client       goredis.UniversalClient
	now          func() time.Time
	app          string
	worker       string
	lease        time.Duration
	stealing     bool
	claimTimeout time.Duration
	renewEvery   time.Duration // the KCL polling consumer's renewal period
	base         string        // "<prefix>:{<app>}:"
	cfgErr       error         // reported by Init and by every method

	mu   sync.Mutex
	held map[string]holding // shard id → the lease this worker holds
}

var _ chk.Checkpointer = (*checkpointer)(nil)

// holding is a lease this worker acquired and has not released. lost marks a
// holding that a renewal or checkpoint found gone: the shard's consumer is
// still winding down, and nothing may be written for it any more.
type holding struct {
	token int64
	lost  bool
}

func (c *checkpointer) validate(prefix string) error {
	var why string
	switch {
	case c.app == "":
		why = "no application: set Options.Application or the KCL TableName"
	case strings.ContainsAny(c.app, "{}"):
		why = fmt.Sprintf("application %q contains '{' or '}' (it is the key's hash tag)", c.app)
	case strings.ContainsAny(prefix, "{}"):
		why = fmt.Sprintf("prefix %q contains '{' or '}' (it would take the hash tag's place)", prefix)
	case c.worker == "":
		why = "no worker id in the KCL configuration"
	case c.lease <= 0:
		why = "no lease duration: set Options.LeaseDuration or the KCL FailoverTimeMillis"
	case c.lease <= c.renewEvery:
		// Expiry is loss here (no renewing a lapsed lease), so a lease that
		// ends before the KCL renews it would be lost at every renewal.
		why = fmt.Sprintf("lease duration %v is not longer than the KCL's renewal period (LeaseRefreshWaitTime) %v; make it at least twice as long", c.lease, c.renewEvery)
	default:
		return nil
	}
	return fmt.Errorf("checkpoints/redis: %w: %s", ErrInvalidOptions, why)
}

func (c *checkpointer) leaseKey(shard string) string { return c.base + "lease:" + shard }
func (c *checkpointer) shardsKey() string            { return c.base + "shards" }

// keys are the KEYS of every script: both share the application's tag.
func (c *checkpointer) keys(shard string) []string {
	return []string{c.leaseKey(shard), c.shardsKey()}
}

func (c *checkpointer) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

func (c *checkpointer) nowMs() int64 { return c.now().UnixMilli() }

func (c *checkpointer) fail(op, shard string, err error, detail string) *ShardError {
	return &ShardError{Op: op, Application: c.app, Shard: shard, Detail: detail, Err: err}
}

// holding returns the lease this worker holds on shard, if any.
func (c *checkpointer) holding(shard string) (holding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.held[shard]
	return h, ok
}

// markLost flags the holding with token as lost, unless it was replaced or
// released meanwhile.
func (c *checkpointer) markLost(shard string, token int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.held[shard]; ok && h.token == token {
		h.lost = true
		c.held[shard] = h
	}
}

// stillHeld reports whether the holding with token is still current (not
// released, replaced or lost since the caller read it).
func (c *checkpointer) stillHeld(shard string, token int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.held[shard]
	return ok && !h.lost && h.token == token
}

// msTime converts stored Unix ms to a time; 0 (no lease yet) is the zero
// time, which the KCL's IsClaimRequestExpired reads as "no lease".
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

package enrich

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/flow"
)

// Source is how a Redis lookup entry is stored.
type Source string

// The Redis entry layouts.
const (
	SourceHash Source = "hash" // a hash; the fields are read with HMGET
	SourceJSON Source = "json" // a string holding a JSON object; read with GET
)

// Cache defaults.
const (
	DefaultCacheSize   = 100_000
	DefaultCacheTTL    = time.Minute
	DefaultNegativeTTL = 10 * time.Second
)

// RedisOptions configures a RedisLookup.
type RedisOptions struct {
	// Key is the key template over the input's columns, e.g. "user:{user_id}".
	Key string `yaml:"key"`
	// KeyPrefix namespaces the keys: the Redis key is KeyPrefix + Key.
	KeyPrefix string `yaml:"key_prefix,omitempty"`
	// Source is SourceHash (default) or SourceJSON.
	Source Source `yaml:"source,omitempty"`
	// Fields are the values appended as columns.
	Fields []Field `yaml:"fields"`
	// OnMiss is the miss policy; default MissNull.
	OnMiss MissPolicy `yaml:"on_miss,omitempty"`
	// CacheSize bounds the in-process cache (found and not-found keys
	// together); 0 means DefaultCacheSize, negative disables the cache.
	CacheSize int `yaml:"cache_size,omitempty"`
	// CacheTTL is how long a found entry is served from the cache; 0 means
	// DefaultCacheTTL, negative disables the cache.
	CacheTTL time.Duration `yaml:"cache_ttl,omitempty"`
	// NegativeTTL is how long a key found missing is remembered as missing;
	// 0 means DefaultNegativeTTL, negative disables negative caching.
	NegativeTTL time.Duration `yaml:"negative_ttl,omitempty"`

	// Now is the clock of cache expiry; nil means time.Now.
	Now func() time.Time `yaml:"-"`
	// OnRoundTrip, when not nil, is called after each Redis round trip.
	OnRoundTrip func(RoundTrip) `yaml:"-"`
	// OnCache, when not nil, is called once per batch with the keys looked
	// up in the cache and how many it served (hit ratio = hits / lookups);
	// not called when the cache is disabled. It must not block.
	OnCache func(lookups, hits int) `yaml:"-"`
}

// RoundTrip describes one pipelined fetch of a batch's cache-missing keys.
type RoundTrip struct {
	Keys     int // commands in the pipeline, one per key
	Found    int
	Duration time.Duration
	Err      error
}

// LookupStats are a RedisLookup's counters since it was built.
type LookupStats struct {
	Batches      uint64 // Process calls that produced output
	RoundTrips   uint64 // pipelined fetches (at most one per Process call)
	Errors       uint64 // failed round trips
	Keys         uint64 // keys looked up (one per row with a key), summed over batches
	CacheHits    uint64 // of those, served from the cache (found or not)
	Fetched      uint64 // distinct keys fetched from Redis
	NotFound     uint64 // fetched and not found
	CachedKeys   int    // keys in the cache now
	DeadLetters  uint64 // rows dead-lettered (misses or bad values)
	DroppedRows  uint64 // rows dropped by MissDrop
	RowsEnriched uint64 // rows emitted
}

// RedisLookup appends columns looked up in Redis by a key built from each
// row. It is safe for concurrent use; its cache is shared by all callers.
type RedisLookup struct {
	*joiner
	client   redis.UniversalClient
	prefix   string
	source   Source
	froms    []string
	cache    *cache // nil when disabled
	ttl, neg time.Duration
	now      func() time.Time
	onTrip   func(RoundTrip)
	onCache  func(lookups, hits int)
	values   interner // string values shared between cached entries

	batches, trips, failed, keys, hits, fetched, notFound, dead, dropped, rows atomic.Uint64
}

// NewRedisLookup validates opts against the input schema in and returns a
// lookup reading through client. All problems are reported, joined, each an
// *OptionError. The client stays the caller's: Close does not close it.
func NewRedisLookup(mem memory.Allocator, in *arrow.Schema, client redis.UniversalClient, opts RedisOptions) (*RedisLookup, error) {
	var bad errs
	if opts.Source == "" {
		opts.Source = SourceHash
	}
	if opts.Source != SourceHash && opts.Source != SourceJSON {
		bad.add("source", "unknown source %q (want hash, json)", opts.Source)
	}
	if client == nil {
		bad.add("client", "a Redis client is required")
	}
	j := newJoiner(mem, "enrich: redis lookup", in, opts.Key, opts.Fields, opts.OnMiss, &bad)
	if err := bad.err(); err != nil {
		return nil, err
	}
	l := &RedisLookup{
		joiner: j, client: client, prefix: opts.KeyPrefix, source: opts.Source,
		ttl: orDefault(opts.CacheTTL, DefaultCacheTTL), neg: orDefault(opts.NegativeTTL, DefaultNegativeTTL),
		now: opts.Now, onTrip: opts.OnRoundTrip, onCache: opts.OnCache,
	}
	for _, f := range j.fields {
		l.froms = append(l.froms, f.from)
	}
	if size := opts.CacheSize; size >= 0 && l.ttl > 0 {
		if size == 0 {
			size = DefaultCacheSize
		}
		l.cache = newCache(size)
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

func orDefault(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// Schema returns the output schema: the input's columns, then one nullable
// column per field.
func (l *RedisLookup) Schema() *arrow.Schema { return l.out }

// Close frees pooled builders. It does not close the Redis client.
func (l *RedisLookup) Close(context.Context) error {
	l.pool.Close()
	return nil
}

// Stats returns the lookup's counters.
func (l *RedisLookup) Stats() LookupStats {
	s := LookupStats{
		Batches: l.batches.Load(), RoundTrips: l.trips.Load(), Errors: l.failed.Load(),
		Keys: l.keys.Load(), CacheHits: l.hits.Load(), Fetched: l.fetched.Load(),
		NotFound: l.notFound.Load(), DeadLetters: l.dead.Load(), DroppedRows: l.dropped.Load(),
		RowsEnriched: l.rows.Load(),
	}
	if l.cache != nil {
		s.CachedKeys = l.cache.len()
	}
	return s
}

// Process appends the looked-up columns to in. Every row's key is looked
// up in the cache (deduplicating first would cost more than the lookups it
// saves); the distinct keys the cache cannot serve are fetched in one
// pipelined round trip; if it fails, Process returns the error and nothing
// else (the caller retries the batch).
func (l *RedisLookup) Process(ctx context.Context, in *flow.Batch) (*flow.Batch, []flow.DeadLetter, error) {
	s, err := l.start(in, l.prefix, false)
	if err != nil {
		return nil, nil, err
	}
	defer l.finish(s)
	now := l.now()
	s.missed = s.missed[:0]
	if l.cache != nil {
		s.missed = l.cache.lookup(s.keys.keys, s.entries, now, s.missed)
	} else {
		for i := range s.keys.keys {
			s.missed = append(s.missed, int32(i))
		}
	}
	l.keys.Add(uint64(len(s.keys.keys)))
	l.hits.Add(uint64(len(s.keys.keys) - len(s.missed)))
	if l.onCache != nil && l.cache != nil {
		l.onCache(len(s.keys.keys), len(s.keys.keys)-len(s.missed))
	}
	if len(s.missed) > 0 {
		if err := l.fetch(ctx, s, now); err != nil {
			return nil, nil, err
		}
	}
	out, dead := l.emit(in, s)
	l.batches.Add(1)
	l.dead.Add(uint64(len(dead)))
	l.rows.Add(uint64(out.Rows()))
	if l.onMiss == MissDrop {
		l.dropped.Add(uint64(in.Rows() - out.Rows() - len(dead)))
	}
	return out, dead, nil
}

// fetch reads the distinct keys among those s.missed lists in one
// pipeline, sets the entries of every missed row and caches them.
func (l *RedisLookup) fetch(ctx context.Context, s *scratch, now time.Time) error {
	if s.dedupe == nil {
		s.dedupe = make(map[string]int32, len(s.missed))
	}
	clear(s.dedupe)
	s.fetchIdx = s.fetchIdx[:0] // key index of each distinct missed key
	for _, i := range s.missed {
		if _, ok := s.dedupe[s.keys.keys[i]]; !ok {
			s.dedupe[s.keys.keys[i]] = int32(len(s.fetchIdx))
			s.fetchIdx = append(s.fetchIdx, i)
		}
	}
	pipe := l.client.Pipeline()
	for _, i := range s.fetchIdx {
		if l.source == SourceJSON {
			pipe.Get(ctx, s.keys.keys[i])
		} else {
			pipe.HMGet(ctx, s.keys.keys[i], l.froms...)
		}
	}
	start := time.Now()
	// Exec's error is the first command's error; each command is judged
	// on its own below.
	cmds, _ := pipe.Exec(ctx)
	trip := RoundTrip{Keys: len(s.fetchIdx), Duration: time.Since(start)}
	l.trips.Add(1)
	for c, i := range s.fetchIdx {
		key := s.keys.keys[i]
		e, err := l.decode(key, cmds[c])
		if err != nil {
			l.failed.Add(1)
			trip.Err = fmt.Errorf("%s: fetching %d keys (%s first failed): %w", l.stage, len(s.fetchIdx), key, err)
			l.report(trip)
			return trip.Err
		}
		s.entries[i] = e
		expires := now.Add(l.ttl)
		if e == missing {
			if l.neg < 0 {
				continue
			}
			expires = now.Add(l.neg)
		} else {
			trip.Found++
		}
		s.stores = append(s.stores, store{key: key, e: e, expires: expires})
	}
	for _, i := range s.missed { // rows sharing a fetched key
		s.entries[i] = s.entries[s.fetchIdx[s.dedupe[s.keys.keys[i]]]]
	}
	l.fetched.Add(uint64(len(s.fetchIdx)))
	l.notFound.Add(uint64(len(s.fetchIdx) - trip.Found))
	if l.cache != nil {
		l.cache.put(s.stores, now)
	}
	l.report(trip)
	return nil
}

func (l *RedisLookup) report(t RoundTrip) {
	if l.onTrip != nil {
		l.onTrip(t)
	}
}

// decode turns one command's reply into an entry (missing when the key
// does not exist), or returns the command's error. A key of the wrong type
// (a string where a hash is expected) is bad data, not an outage: its rows
// are dead-lettered rather than the batch retried forever.
func (l *RedisLookup) decode(key string, cmd redis.Cmder) (*entry, error) {
	if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return &entry{bad: fmt.Sprintf("enrich_bad_value: %s: %v", key, err)}, nil
	}
	switch cmd := cmd.(type) {
	case *redis.SliceCmd: // HMGET
		vals, err := cmd.Result()
		if err != nil {
			return nil, err
		}
		found := false
		for _, v := range vals {
			found = found || v != nil
		}
		if !found { // no such hash, or none of the fields: a miss either way
			return missing, nil
		}
		return newEntry(key, l.fields, func(i int) (string, bool) {
			s, ok := vals[i].(string)
			return s, ok
		}, &l.values), nil
	case *redis.StringCmd: // GET
		data, err := cmd.Bytes()
		if errors.Is(err, redis.Nil) {
			return missing, nil
		}
		if err != nil {
			return nil, err
		}
		obj, err := jsonObject(data)
		if err != nil {
			return &entry{bad: fmt.Sprintf("enrich_bad_value: %s: not a JSON object: %v", key, err)}, nil
		}
		return newEntry(key, l.fields, func(i int) (string, bool) {
			s, ok := obj[l.fields[i].from]
			return s, ok
		}, &l.values), nil
	}
	return nil, fmt.Errorf("unexpected reply %T", cmd)
}

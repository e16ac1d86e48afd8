// Package enrich owns lookup joins: stages that append columns to each row
// from an entry found by a key built from the row. RedisLookup reads the
// entries from Redis through an in-process cache; StaticTable reads them
// from a CSV or JSON file held in memory and reloaded on demand (or on
// SIGHUP with WatchSIGHUP); Load seeds a Redis lookup table from such a
// file (`shardflow enrich load FILE --key 'user:{user_id}'`). Both stages
// implement transform.Transform and follow its contract.
//
// # Keys
//
// A key template such as "user:{user_id}" names input columns in braces;
// "{{" and "}}" are literal braces (for Redis Cluster hash tags). Columns
// of type string, int64, float64, bool and timestamp (RFC 3339) can be
// part of a key; unknown columns are rejected when the stage is built.
// A row whose key column is null has no key: it is a miss.
//
// # Entries and values
//
// Each Field names a value of the entry (From) and the column it becomes
// (As, of Type). All appended columns are nullable. Stored values are text
// and are converted once, when the entry is fetched or the file loaded:
// string as is; int64 an integer (or an integral decimal); float64 a finite
// decimal; bool true/false/1/0; timestamp RFC 3339. A field the entry lacks
// is the Field's Default, or null. A value that does not convert makes the
// whole entry unusable: in Redis, every row with that key goes to
// dead-letter with reason "enrich_bad_value: <key>: <field>: ..." (nulling
// it would hide broken data); in a static table file, the load fails and
// the previous table stays.
//
// For Source hash an entry is a hash read with HMGET of the fields' From
// names; a hash with none of them counts as not found. For Source json an
// entry is a string holding a JSON object read with GET; its members are
// taken by name (strings as their contents, numbers and bools as their
// literal text, objects and arrays as JSON text, null as absent).
//
// # Misses
//
// OnMiss decides a row whose key is not found: null (append nulls),
// default (append each field's Default), drop (drop the row), dead_letter
// (reason "enrich_miss: <key>", the full Redis key including KeyPrefix, or
// "enrich_miss: <template>: <column> is null").
//
// # Redis round trips and the cache
//
// Per batch, RedisLookup renders every row's key, looks each up in its
// cache and fetches the distinct keys it did not find in one pipelined
// round trip (one HMGET or GET per key), then caches what it
// fetched: found entries for CacheTTL, missing keys for NegativeTTL. The
// cache holds up to CacheSize keys, shared by all Process calls; when full
// it evicts an expired key or the least recently used of a sample of 16
// (approximate LRU, as Redis's own eviction).
// A cached value can be up to CacheTTL old: that is the staleness bound
// of an enrichment table. When Redis fails, Process returns the error and
// no output; nothing is cached from the failed round trip, and the caller
// retries the batch (transform.Retry), which holds back the shard.
// Stats and RedisOptions.OnRoundTrip count the round trips.
//
// # What this package must never do
//
// It never makes more than one Redis round trip per batch (none when the
// cache serves every key), never emits a batch with some rows enriched and
// others not, never drops a row silently (only the drop policy drops
// rows), and never lets a go-redis type into Process.
//
// # Concurrency
//
// Process may be called concurrently. The cache has one mutex, taken twice
// per batch; per-call scratch comes from a pool; a StaticTable's table is
// an immutable map behind an atomic pointer, which Reload replaces whole.
// WatchSIGHUP owns one goroutine, ended by its stop function or its ctx;
// after stop, SIGHUP has its default effect again unless something else
// handles it.
package enrich

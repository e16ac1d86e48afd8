// Package statuspage is the human-facing page of the ops endpoint: what a
// worker is doing right now, for an operator with a browser and no
// Prometheus at hand.
//
// It has two parts. Collector implements metrics.Hooks and keeps running
// totals (records read and acked, checkpoints, leases held, rows per output,
// Firehose calls, dead letters by reason code, window flushes, emissions and
// late rows, Redis calls) and, per shard, a ring of fixed time buckets
// (Options.Step, 5 s by default, over Options.Window, 10 min) with the
// records and bytes read and the highest MillisBehindLatest seen in each.
// Handler serves the page (GET / and /status: an HTML shell, a small
// vanilla script and a stylesheet, embedded with go:embed; no CDN, no build
// step), the data behind it (GET /status.json: a Snapshot plus the current
// readiness report), and the assets under /static/. The script polls
// /status.json every two seconds and draws each shard's lag and throughput
// as inline SVG.
//
// # Ownership and concurrency
//
// The Collector owns no goroutine: a hook files its numbers into the bucket
// of the current time (the bucket is reset when the hook finds it holds an
// older period), so there is nothing to start or stop, and buckets nobody
// wrote read as empty. Its clock is injected (Options.Now) so tests can
// move time. Locks: one RWMutex per table (shards, outputs, streams,
// reasons, operators) guards only the map; counters are atomics, except a
// shard's ring and state, which sit under that shard's own mutex. A hook
// takes the table's read lock to find its entry, releases it, then takes
// the entry's mutex: locks never nest on a hook path. Snapshot takes a
// table's write lock and then each shard's mutex (table → shard), to drop
// shards that have been gone for a whole window; a hook that finds its
// shard dropped looks it up again.
//
// # What this package must never do
//
// Follow the metrics.Hooks rules: no blocking, no I/O and no allocation in a
// hook for a shard, output, stream, reason or operator already seen (the
// first sighting copies the string), safe for concurrent use. Tables are
// bounded (Options.MaxShards shards, 128 values of every other label, the
// rest counted under "other"). It must never decide readiness: the page
// shows the ops server's own report.
package statuspage

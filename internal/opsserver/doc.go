// Package opsserver is the process's operations endpoint: one HTTP server
// serving
//
//	GET /metrics   the metrics handler it is given (Prometheus text format)
//	GET /healthz   200 "ok" while the process runs (liveness)
//	GET /readyz    200 when every registered readiness check passes, 503
//	               otherwise; the JSON body lists each check's status,
//	               error and duration
//
// for ECS container health checks, load-balancer target checks and a
// Prometheus scraper. Handle mounts further routes, such as the status page
// (internal/statuspage) as the catch-all "/".
//
// # Readiness
//
// A Check is a name and a func(ctx) error. /readyz runs every check
// concurrently, each under its own timeout (Options.CheckTimeout), and
// caches the report for Options.CacheTTL (1 s): load balancers and ECS poll
// every few seconds from several nodes, and a burst of polls must not turn
// into a burst of Redis PINGs. Concurrent requests during an evaluation wait
// for it instead of starting their own. Ready-made checks: RedisCheck
// (PING), HTTPCheck (a 2xx from a URL such as firehose-local's /healthz),
// TCPCheck (something accepts connections) and FuncCheck for in-process
// state (outputs healthy, leases held), with WithGrace for state that is
// expected to be false during start-up.
//
// # Ownership
//
// Start listens synchronously (an address in use is its error) and serves
// from one goroutine it owns. Each readiness evaluation starts one goroutine
// per check; they end when their check returns, which a check must do when
// its context is cancelled. Shutdown stops accepting, waits for in-flight
// requests, cancels running checks and waits for the serving goroutine and
// every check goroutine, or for its context.
//
// This package must never decide readiness from anything but its checks,
// and never import pipeline code: the pipeline registers FuncChecks over
// its own state (Pipeline.Healthy, OwnedShards).
package opsserver

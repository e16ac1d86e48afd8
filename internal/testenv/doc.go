// Package testenv connects tests to the local stack that deploy/local/up
// starts (or reuses): kinesalite, dynalite, s3-local, firehose-local, Redis
// and PostgreSQL, all on 127.0.0.1.
//
// Endpoints come from the process environment (the SHARDFLOW_* variables
// that `make test` exports from deploy/local/.state/env); any that are
// missing are read from that file directly, found by walking up from the
// working directory to the module root, so `go test ./...` also works after
// a plain `make up`.
//
// A missing service fails the test, it never skips it: a test suite that
// silently skips its integration tests reports green without having tested
// anything. The failure message names the service and endpoint and says to
// run `make up` (or `make test`, which brings the stack up first).
//
// Chromium finds the headless browser the status page's test drives
// (deploy/local/ensure-chromium installs Debian's); without one it fails the
// same way. TCPProxy stands between a test and a shared service so that the
// test can make the service go away and come back without stopping it for
// everyone else; KinesisGate stands between a consumer and kinesalite and
// holds the GetRecords calls of chosen shards (a stalled reader).
//
// RedisTLS is the local stack's TLS-only Redis (deploy/local/redis-tls: its
// CA file and ACL user). For certificates and passwords of its own a test
// starts a private TLS redis-server with StartRedisTLS (no plain port,
// requirepass, ACL users with the rules of deploy/local/redis-acl, stopped
// at cleanup), signed by a throwaway CA from NewTestCA; it never turns
// verification off.
//
// RedisCluster is the local stack's Redis Cluster (deploy/local/redis-cluster:
// 3 primaries, 3 replicas) with a key prefix of the test's; tests that fail
// over, migrate slots or kill nodes start a cluster of their own with
// StartPrivateCluster (Failover, MigrateSlot, Kill, Start, WaitPromoted),
// stopped at cleanup, and never disturb the shared one. TCPProxy.SetLatency
// makes a service answer late without limiting its throughput.
//
// Every helper that creates something (a Kinesis stream, Redis keys, a
// PostgreSQL database) removes it in tb.Cleanup, so tests can run in parallel
// and against a long-lived stack:
//
//	func TestSomething(t *testing.T) {
//		env := testenv.Load(t)
//		kc := env.Kinesis(t)
//		stream := testenv.UniqueName(t, "clicks")
//		testenv.CreateStream(t, kc, stream, 2)
//		rdb, prefix := env.Redis(t) // use keys under prefix only
//		dbURL := env.PostgresDB(t)  // a fresh database, dropped at cleanup
//		...
//	}
package testenv

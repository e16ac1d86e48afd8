package pipeline_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestSlowRedisKeepsLeasesAndLosesNothing runs a pipeline whose Redis
// answers every command 200 ms late (a TCP proxy that delays what Redis
// sends): reading slows down, but every lease is kept (the lease cycle's
// round trips fit in a third of the lease duration, and renewals do not
// queue behind checkpoints: the pool has room for both), and every event
// is delivered once.
func TestSlowRedisKeepsLeasesAndLosesNothing(t *testing.T) {
	const latency = 200 * time.Millisecond
	s := newStack(t, 2)
	u, err := url.Parse(s.env.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewTCPProxy(t, u.Host)
	proxy.SetLatency(latency)
	cfg := s.config(t)
	u.Host = proxy.Addr()
	cfg.Redis.URL = u.String()
	// The proxy really is slow.
	slow := goredis.NewClient(&goredis.Options{Addr: proxy.Addr()})
	defer slow.Close()
	at := time.Now()
	if err := slow.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if rtt := time.Since(at); rtt < latency {
		t.Fatalf("PING through the proxy took %s, want at least %s", rtt, latency)
	}

	want := putEvents(t, s, 61, 1500)
	start := time.Now()
	p, stop := runPipeline(t, cfg, "w1")
	waitFor(t, "both shards held through the slow Redis", 30*time.Second, func() bool { return len(p.OwnedShards()) == 2 })
	res := s.waitDelivered(t, len(want), 120*time.Second)
	took := time.Since(start)
	addr := p.OpsAddr()
	lost := scrape(t, addr, "shardflow_leases_lost_total", "")
	c := stop()
	t.Logf("Redis %s slower: %d events delivered in %s; leases lost %v; records read %d", latency, len(want), took.Round(time.Millisecond), lost, c.RecordsIn)
	checkExactlyOnce(t, res, want)
	if lost != 0 {
		t.Errorf("%v leases lost while Redis answered %s late; want 0", lost, latency)
	}
	if c.RecordsIn != int64(len(want)) {
		t.Errorf("read %d records for %d events: a lease moved and replayed", c.RecordsIn, len(want))
	}
}

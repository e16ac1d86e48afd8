package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PrivateCluster is a Redis Cluster of one test's own (3 primaries, 3
// replicas, no persistence, cluster-node-timeout 1s) on free loopback
// ports, for tests that fail over, kill or reshard it: the shared cluster
// of deploy/local/up is left alone. Stopped at cleanup.
type PrivateCluster struct {
	tb    testing.TB
	dir   string
	Nodes []*ClusterNode
}

// ClusterNode is one redis-server of a PrivateCluster.
type ClusterNode struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Addr is the node's host:port.
func (n *ClusterNode) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// StartPrivateCluster starts six redis-servers in cluster mode, creates
// the cluster with `redis-cli --cluster create --cluster-replicas 1` and
// waits until every node says it is ok.
func StartPrivateCluster(tb testing.TB) *PrivateCluster {
	tb.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("testenv: %s not found (deploy/local/up installs it): %v", bin, err)
		}
	}
	c := &PrivateCluster{tb: tb, dir: tb.TempDir()}
	tb.Cleanup(c.stop)
	ports := freePorts(tb, 6)
	for _, p := range ports {
		n := &ClusterNode{Port: p, dir: filepath.Join(c.dir, strconv.Itoa(p))}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
		c.Start(n)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK(30 * time.Second)
	return c
}

// freePorts picks n free loopback ports (and their cluster bus ports,
// port+10000, free as well).
func freePorts(tb testing.TB, n int) []int {
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			bus.Close()
			ports = append(ports, p)
		}
	}
	return ports
}

// Addrs are every node's host:port.
func (c *PrivateCluster) Addrs() []string {
	var a []string
	for _, n := range c.Nodes {
		a = append(a, n.Addr())
	}
	return a
}

// Client is a cluster client of the test's (closed at cleanup).
func (c *PrivateCluster) Client() *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.tb.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Start runs n's redis-server (again, after Kill: with the cluster
// config it left, so it rejoins, as a replica if it was failed over).
func (c *PrivateCluster) Start(n *ClusterNode) {
	c.tb.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1",
		"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(n.dir, "nodes.conf"),
		"--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no", "--dir", n.dir,
		"--logfile", filepath.Join(n.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		c.tb.Fatalf("testenv: start redis-server on %d: %v", n.Port, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(n.done) }() // owned by n: ends with the process
	node := redis.NewClient(&redis.Options{Addr: n.Addr()})
	defer node.Close()
	deadline := time.Now().Add(10 * time.Second)
	for node.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			c.tb.Fatalf("testenv: cluster node %s does not answer; log:\n%s", n.Addr(), c.Log(n))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops n with SIGKILL.
func (c *PrivateCluster) Kill(n *ClusterNode) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
	n.cmd = nil
}

func (c *PrivateCluster) stop() {
	for _, n := range c.Nodes {
		c.Kill(n)
	}
}

// Log is the end of n's log file.
func (c *PrivateCluster) Log(n *ClusterNode) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// node is a direct client of n (closed by the caller).
func (n *ClusterNode) node() *redis.Client { return redis.NewClient(&redis.Options{Addr: n.Addr()}) }

// Role is "master" or "slave" as n sees itself ("" when it does not answer).
func (n *ClusterNode) Role() string {
	c := n.node()
	defer c.Close()
	v, err := c.Do(context.Background(), "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// PrimaryOf is the node that the first running node able to answer says
// serves key's slot as a primary.
func (c *PrivateCluster) PrimaryOf(key string) *ClusterNode {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if p, ok := c.slotPrimaryAsSeenBy(n, key); ok && p != nil {
			return p
		}
	}
	c.tb.Fatalf("testenv: no running node knows the primary of %q", key)
	return nil
}

// slotPrimaryAsSeenBy is the primary of key's slot in n's view of the
// cluster (nil: n knows none); ok is false when n is down or does not answer.
func (c *PrivateCluster) slotPrimaryAsSeenBy(n *ClusterNode, key string) (p *ClusterNode, ok bool) {
	if n.cmd == nil {
		return nil, false
	}
	cl := n.node()
	defer cl.Close()
	slots, err := cl.ClusterSlots(context.Background()).Result()
	if err != nil {
		return nil, false
	}
	slot, err := cl.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		return nil, false
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return c.byAddr(s.Nodes[0].Addr), true
		}
	}
	return nil, true
}

// ReplicaOf is a running replica of primary p.
func (c *PrivateCluster) ReplicaOf(p *ClusterNode) *ClusterNode {
	c.tb.Helper()
	cl := p.node()
	defer cl.Close()
	id, err := cl.Do(context.Background(), "CLUSTER", "MYID").Text()
	if err != nil {
		c.tb.Fatalf("testenv: CLUSTER MYID on %s: %v", p.Addr(), err)
	}
	lines, err := cl.Do(context.Background(), "CLUSTER", "REPLICAS", id).StringSlice()
	if err != nil {
		c.tb.Fatalf("testenv: CLUSTER REPLICAS on %s: %v", p.Addr(), err)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 2 && !strings.Contains(f[2], "fail") {
			if n := c.byAddr(strings.SplitN(f[1], "@", 2)[0]); n != nil && n.cmd != nil {
				return n
			}
		}
	}
	c.tb.Fatalf("testenv: %s has no running replica: %v", p.Addr(), lines)
	return nil
}

func (c *PrivateCluster) byAddr(addr string) *ClusterNode {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// Failover runs CLUSTER FAILOVER on replica r (a graceful, coordinated
// handover: r waits for its primary's writes, then takes its slots) and
// waits until r is a primary and the cluster is ok again.
func (c *PrivateCluster) Failover(r *ClusterNode) {
	c.tb.Helper()
	cl := r.node()
	defer cl.Close()
	if err := cl.Do(context.Background(), "CLUSTER", "FAILOVER").Err(); err != nil {
		c.tb.Fatalf("testenv: CLUSTER FAILOVER on %s: %v", r.Addr(), err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for r.Role() != "master" {
		if time.Now().After(deadline) {
			c.tb.Fatalf("testenv: %s not primary 20s after CLUSTER FAILOVER", r.Addr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitOK(20 * time.Second)
}

// WaitOK waits until every running node says cluster_state:ok and every
// slot is served.
func (c *PrivateCluster) WaitOK(within time.Duration) {
	c.tb.Helper()
	deadline := time.Now().Add(within)
	for {
		ok := true
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			cl := n.node()
			info, err := cl.ClusterInfo(context.Background()).Result()
			cl.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("testenv: private cluster not ok within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitPromoted waits until a running node other than dead serves key's
// slot as a primary (its replica was promoted) and the cluster is ok,
// and returns how long that took.
func (c *PrivateCluster) WaitPromoted(dead *ClusterNode, key string, within time.Duration) time.Duration {
	c.tb.Helper()
	start := time.Now()
	for {
		if n := c.servingPrimary(key); n != nil && n != dead && n.Role() == "master" {
			c.WaitOK(within)
			return time.Since(start)
		}
		if time.Since(start) > within {
			c.tb.Fatalf("testenv: no replica promoted for %q within %s: %s", key, within, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// servingPrimary is the node the running nodes agree serves key's slot
// (nil while they disagree or do not know).
func (c *PrivateCluster) servingPrimary(key string) *ClusterNode {
	var found *ClusterNode
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		p, ok := c.slotPrimaryAsSeenBy(n, key)
		if !ok || p == nil || (found != nil && p != found) {
			return nil
		}
		found = p
	}
	return found
}

// MigrateSlot moves key's slot from its primary to primary dst while
// clients use it, as `redis-cli --cluster reshard` does for each slot: dst
// IMPORTING, the source MIGRATING, the keys moved with MIGRATE in small
// batches (clients meanwhile get ASK and TRYAGAIN), then every node told
// the slot is dst's. It returns how many keys moved.
func (c *PrivateCluster) MigrateSlot(key string, dst *ClusterNode) int {
	c.tb.Helper()
	ctx := context.Background()
	src := c.PrimaryOf(key)
	if src == dst {
		c.tb.Fatalf("testenv: %s already serves %q", dst.Addr(), key)
	}
	sc, dc := src.node(), dst.node()
	defer sc.Close()
	defer dc.Close()
	slot, err := sc.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		c.tb.Fatal(err)
	}
	srcID, err := sc.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		c.tb.Fatal(err)
	}
	dstID, err := dc.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		c.tb.Fatal(err)
	}
	must := func(cl *redis.Client, args ...any) {
		if err := cl.Do(ctx, args...).Err(); err != nil {
			c.tb.Fatalf("testenv: %v on %s: %v", args, cl.Options().Addr, err)
		}
	}
	must(dc, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	must(sc, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	moved := 0
	for {
		keys, err := sc.ClusterGetKeysInSlot(ctx, int(slot), 1).Result()
		if err != nil {
			c.tb.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", dst.Port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(sc, args...)
		moved += len(keys)
		time.Sleep(100 * time.Millisecond) // clients meet the slot half moved
	}
	for _, n := range c.Nodes {
		if n.cmd == nil || n.Role() != "master" {
			continue
		}
		cl := n.node()
		must(cl, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		cl.Close()
	}
	c.WaitOK(20 * time.Second)
	return moved
}

// OtherPrimary is a running primary that does not serve key's slot.
func (c *PrivateCluster) OtherPrimary(key string) *ClusterNode {
	c.tb.Helper()
	p := c.PrimaryOf(key)
	for _, n := range c.Nodes {
		if n != p && n.cmd != nil && n.Role() == "master" {
			return n
		}
	}
	c.tb.Fatalf("testenv: no other primary: %s", c)
	return nil
}

// String names the nodes and their roles, for logs.
func (c *PrivateCluster) String() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		role := "down"
		if n.cmd != nil {
			role = n.Role()
		}
		fmt.Fprintf(&b, "%s=%s ", n.Addr(), role)
	}
	return strings.TrimSpace(b.String())
}

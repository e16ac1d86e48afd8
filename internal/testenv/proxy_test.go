package testenv_test

import (
	"bufio"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shardflow/shardflow/internal/testenv"
)

// TestTCPProxy: the proxy forwards to a real Redis, refuses connections
// while stopped, and forwards again on the same address once restarted.
func TestTCPProxy(t *testing.T) {
	env := testenv.Load(t)
	_, _ = env.Redis(t) // fails the test when Redis is not up
	u, err := url.Parse(env.RedisURL)
	if err != nil {
		t.Fatalf("SHARDFLOW_REDIS_URL: %v", err)
	}
	p := testenv.NewTCPProxy(t, u.Host)
	ping := func() error {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && line != "+PONG\r\n" {
			t.Errorf("PING through the proxy answered %q", line)
		}
		return err
	}
	if err := ping(); err != nil {
		t.Fatalf("PING through the proxy: %v", err)
	}
	addr := p.Addr()
	p.Stop()
	if err := ping(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("PING through a stopped proxy = %v, want connection refused", err)
	}
	p.Start()
	if p.Addr() != addr {
		t.Fatalf("restarted proxy on %s, want %s", p.Addr(), addr)
	}
	if err := ping(); err != nil {
		t.Fatalf("PING through the restarted proxy: %v", err)
	}
}

func TestChromium(t *testing.T) {
	t.Setenv("SHARDFLOW_CHROMIUM", "/nonexistent/chromium")
	mustFail(t, func(tb testing.TB) { testenv.Chromium(tb) }, "SHARDFLOW_CHROMIUM=/nonexistent/chromium")

	t.Setenv("SHARDFLOW_CHROMIUM", "")
	bin := testenv.Chromium(t) // fails when deploy/local/ensure-chromium has not run
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Chromium") {
		t.Fatalf("%s --version: %v: %s", bin, err, out)
	}
}

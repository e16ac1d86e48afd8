package opsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Check is one readiness condition. Run must return promptly once ctx is
// cancelled (every check runs under Options.CheckTimeout).
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// RedisCheck passes when the client answers PING. It is named "redis";
// set Name to tell several clients apart.
func RedisCheck(client redis.UniversalClient) Check {
	return Check{Name: "redis", Run: func(ctx context.Context) error {
		if err := client.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis PING: %w", err)
		}
		return nil
	}}
}

// HTTPCheck passes when a GET of url answers 2xx, e.g. firehose-local's
// /healthz. Keep-alive connections are reused between polls; redirects are
// not followed (a 3xx fails).
func HTTPCheck(name, url string) Check {
	client := &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return Check{Name: name, Run: func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err // a *url.Error: it names the method and URL
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("GET %s: status %s", url, resp.Status)
		}
		return nil
	}}
}

// TCPCheck passes when something accepts a TCP connection at addr
// (host:port): reachability only, for endpoints without a health URL.
func TCPCheck(name, addr string) Check {
	return Check{Name: name, Run: func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("connect %s: %w", addr, err)
		}
		return conn.Close()
	}}
}

// EndpointCheck is a TCPCheck of a service endpoint URL's host and port
// (80 or 443 by scheme when the URL has none), for a configured endpoint
// override such as a local Firehose stand-in.
func EndpointCheck(name, endpoint string) (Check, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return Check{}, fmt.Errorf("opsserver: check %s: endpoint: %w", name, err)
	}
	if u.Host == "" {
		return Check{}, fmt.Errorf("opsserver: check %s: endpoint %q has no host", name, endpoint)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return TCPCheck(name, net.JoinHostPort(u.Hostname(), port)), nil
}

// FuncCheck wraps in-process state that is cheap to read, such as
// Pipeline.Healthy or a count of leases held.
func FuncCheck(name string, fn func() error) Check {
	return Check{Name: name, Run: func(context.Context) error { return fn() }}
}

// WithGrace makes c pass during the first grace after WithGrace is called
// (call it at start-up): for state that is false until the process has
// settled, such as leases held before the KCL's first shard syncs.
func WithGrace(c Check, grace time.Duration) Check {
	deadline := time.Now().Add(grace)
	run := c.Run
	return Check{Name: c.Name, Run: func(ctx context.Context) error {
		if err := run(ctx); err != nil && !time.Now().Before(deadline) {
			return err
		}
		return nil
	}}
}

// ErrNoLeases is returned by LeasesCheck when the worker holds no lease.
var ErrNoLeases = errors.New("no shard leases held")

// LeasesCheck fails while owned() is empty, e.g. with Pipeline.OwnedShards.
// Combine it with WithGrace. Note that a worker of a pipeline with more
// tasks than shards holds no lease by design: use it only where every task
// is expected to hold one.
func LeasesCheck(owned func() []string) Check {
	return FuncCheck("leases", func() error {
		if len(owned()) == 0 {
			return ErrNoLeases
		}
		return nil
	})
}

package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCPProxy forwards TCP connections to a target until stopped, and can be
// started again on the same address: a service that goes away and comes
// back, without stopping the shared one behind it. Create it with
// NewTCPProxy; Stop and Start are for the test goroutine only.
type TCPProxy struct {
	tb     testing.TB
	target string
	addr   string
	ln     net.Listener
	mu     sync.Mutex // conns
	conns  []net.Conn
	wg     sync.WaitGroup // the accept loop and the copy goroutines
}

// NewTCPProxy starts a proxy to target (host:port) on a free local port; it
// is stopped at cleanup.
func NewTCPProxy(tb testing.TB, target string) *TCPProxy {
	tb.Helper()
	p := &TCPProxy{tb: tb, target: target, addr: "127.0.0.1:0"}
	p.Start()
	tb.Cleanup(p.Stop)
	return p
}

// Addr is the proxy's host:port, the same across Stop and Start.
func (p *TCPProxy) Addr() string { return p.addr }

// Start listens again on Addr (a no-op while running). Connections that
// cannot reach the target are closed at once.
func (p *TCPProxy) Start() {
	p.tb.Helper()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatalf("testenv: proxy to %s: listen on %s: %v", p.target, p.addr, err)
	}
	p.ln, p.addr = ln, ln.Addr().String()
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(out, in); out.Close() })
			p.wg.Go(func() { _, _ = io.Copy(in, out); in.Close() })
		}
	})
}

// Stop closes the listener and every proxied connection, and waits for the
// proxy's goroutines: to a client, the service is gone (connection
// refused) until Start.
func (p *TCPProxy) Stop() {
	if p.ln == nil {
		return
	}
	p.ln.Close()
	p.ln = nil
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

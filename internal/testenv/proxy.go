package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	// latency delays every chunk the target sends by this long (ns): a
	// slow server or a far one, without limiting throughput.
	latency atomic.Int64
}

// SetLatency makes every answer of the target arrive d later (0: none),
// for connections open and to come.
func (p *TCPProxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

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
			p.wg.Go(func() { p.delayedCopy(in, out); in.Close() })
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

// delayedCopy copies what src sends to dst, each chunk written latency
// after it was read: one goroutine reads and stamps, this one writes when
// due, so answers keep their order and pipelined ones are not serialised.
func (p *TCPProxy) delayedCopy(dst, src net.Conn) {
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 1024)
	p.wg.Go(func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(time.Duration(p.latency.Load()))}
			}
			if err != nil {
				return
			}
		}
	})
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close() // unblocks the reader
			for range q {
			}
			return
		}
	}
}

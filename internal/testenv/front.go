package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Front forwards TCP connections to a server (the test's MinIO, say) so
// that a test can take it away under the code that uses it: Stop closes
// the listener and every forwarded connection (the address then refuses
// connections, as when the server is stopped), and Start listens on the
// same address again.
type Front struct {
	tb     testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// NewFront starts a Front to target (host:port) on a free loopback port;
// the test's cleanup stops it.
func NewFront(tb testing.TB, target string) *Front {
	tb.Helper()
	f := &Front{tb: tb, target: target, addr: "127.0.0.1:0"}
	f.Start()
	f.addr = f.ln.Addr().String()
	tb.Cleanup(f.Stop)
	return f
}

// Addr is the address to reach the target through.
func (f *Front) Addr() string { return f.addr }

// Start listens on the Front's address and forwards what it accepts.
func (f *Front) Start() {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		f.tb.Fatal(err)
	}
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", f.target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// Stop closes the listener and every connection forwarded so far.
func (f *Front) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ln.Close()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyDialTimeout bounds the proxy's dial to its target (on loopback a
// dial succeeds or fails at once; this only bounds Close behind a stuck one).
const proxyDialTimeout = 5 * time.Second

// TCPProxy relays TCP connections from a loopback listener to a target,
// so that a test can break the path between one client and a server on
// purpose while other clients keep theirs:
//
//   - Drop closes every relayed connection open now (a network drop, seen
//     on a WebSocket as 1006); new ones are relayed.
//   - Cut does the same and refuses new connections until Heal (a
//     partition).
//   - Stall keeps the connections open now but discards what the target
//     sends on them (a half-open connection: the client's bytes still
//     arrive, nothing comes back); new ones are relayed.
//
// It owns its goroutines (one accept loop, two pipes per connection) and
// Close waits for all of them.
type TCPProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup // accept, and two pipes per link

	mu     sync.Mutex
	closed bool               // +checklocks:mu
	cut    bool               // +checklocks:mu
	links  map[*link]struct{} // open links; +checklocks:mu
}

// link is one relayed connection: the client's end and the target's.
type link struct {
	client, up net.Conn
	stalled    atomic.Bool // what up sends is discarded
}

func (l *link) close() {
	_ = l.client.Close()
	_ = l.up.Close()
}

// NewTCPProxy starts a relay on 127.0.0.1 to target (host:port); t's
// cleanup closes it.
func NewTCPProxy(t testing.TB, target string) *TCPProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &TCPProxy{ln: ln, target: target, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Addr is the relay's host:port, what the client dials.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.open() {
			_ = c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &link{client: c, up: up}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			l.close()
			continue
		}
		p.links[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(l, up, c, nil)
		go p.pipe(l, c, up, &l.stalled)
	}
}

// open reports whether new connections are relayed now.
func (p *TCPProxy) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.cut && !p.closed
}

// pipe copies src to dst, discarding while discard holds; the first
// direction to end closes the link and forgets it.
func (p *TCPProxy) pipe(l *link, dst, src net.Conn, discard *atomic.Bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && (discard == nil || !discard.Load()) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			break
		}
	}
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// Drop closes every relayed connection open now; new ones are relayed.
func (p *TCPProxy) Drop() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
}

// Cut closes every relayed connection and refuses new ones until Heal.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	p.cut = true
	p.mu.Unlock()
	p.Drop()
}

// Heal relays new connections again after Cut.
func (p *TCPProxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Stall stops relaying to the clients of every connection open now: what
// the target sends on them is read and discarded, what the clients send
// still arrives.
func (p *TCPProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.stalled.Store(true)
	}
}

// Close stops accepting, closes every relayed connection and waits for
// every goroutine the proxy started. It is idempotent.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	var err error
	if !already {
		err = p.ln.Close()
	}
	p.Drop()
	p.wg.Wait()
	return err
}

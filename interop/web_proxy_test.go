package interop

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// connectProxy is an HTTP CONNECT proxy on loopback for one browser
// (chromium --proxy-server, loopback not bypassed): the page keeps its
// real origin while every TCP connection it opens passes here, so a test
// can cut the connections to one address (a network drop, seen by the
// page as 1006) and refuse new ones until it lets them through again.
type connectProxy struct {
	ln net.Listener
	wg sync.WaitGroup // accept, and two pipes per tunnel

	mu      sync.Mutex
	tunnels map[net.Conn]string // both ends of every tunnel -> its target; +checklocks:mu
	refused map[string]bool     // targets refused now; +checklocks:mu
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln, tunnels: map[net.Conn]string{}, refused: map[string]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for c := range p.tunnels {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// url is the proxy's address for --proxy-server.
func (p *connectProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *connectProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve reads one CONNECT request and tunnels it, or answers 502 (target
// refused or unreachable) or 405 (not CONNECT).
func (p *connectProxy) serve(c net.Conn) {
	defer p.wg.Done()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n")
		_ = c.Close()
		return
	}
	target := req.Host
	p.mu.Lock()
	refused := p.refused[target]
	p.mu.Unlock()
	var up net.Conn
	if !refused {
		up, err = net.DialTimeout("tcp", target, 5*time.Second)
	}
	if refused || err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
		_ = c.Close()
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.mu.Lock()
	p.tunnels[c], p.tunnels[up] = target, target
	p.mu.Unlock()
	p.wg.Add(1)
	go func() { // the client's bytes; br may hold some behind the request
		defer p.wg.Done()
		p.pipe(up, c, br)
	}()
	p.pipe(c, up, up)
}

// pipe copies from (src, or a reader over it) to dst, then closes both
// and forgets them.
func (p *connectProxy) pipe(dst, src net.Conn, from io.Reader) {
	_, _ = io.Copy(dst, from)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.tunnels, dst)
	delete(p.tunnels, src)
	p.mu.Unlock()
}

// cut closes every tunnel to target open now and, with refuse, refuses
// new ones until let(target).
func (p *connectProxy) cut(target string, refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused[target] = refuse
	for c, to := range p.tunnels {
		if to == target {
			_ = c.Close()
		}
	}
}

// let lets new tunnels to target through again.
func (p *connectProxy) let(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.refused, target)
}

// tunnelsTo is how many tunnels to target are open.
func (p *connectProxy) tunnelsTo(target string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, to := range p.tunnels {
		if to == target {
			n++
		}
	}
	return n / 2
}

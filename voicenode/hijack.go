package voicenode

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/parleyhq/parley/internal/httpserve"
	"github.com/parleyhq/parley/internal/lifecycle"
)

// ServeHTTP serves the voice gateway on another HTTP server's request:
// how the web origin fronts the in-process node at /voice, so a browser
// that trusts the page's certificate reaches the voice gateway on the
// same host and port. The connection net/http hijacks is counted against
// the node's own per-IP caps (Config.Conns: open and pending, together
// with the gateway listener's connections; 429 over a cap), and
// signaling.Server.ServeHTTP upgrades and runs it as any other gateway
// connection. The request's goroutine (net/http's) runs the connection
// until it ends; Close ends it and waits for it.
//
// WebSocket over HTTP/2 (RFC 8441) is refused with 505, as the chat
// gateway's: browsers open an HTTP/1.1 connection for a WebSocket.
func (s *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		httpserve.WriteError(w, http.StatusHTTPVersionNotSupported, "The voice gateway takes WebSocket connections over HTTP/1.1.")
		return
	}
	s.mu.Lock()
	if s.closed || !s.started {
		s.mu.Unlock()
		httpserve.WriteError(w, http.StatusServiceUnavailable, "The voice gateway is not running.")
		return
	}
	s.fronted.Add(1) // under mu while closed is unset: before Close waits
	s.mu.Unlock()
	defer s.fronted.Done()
	a := &adopter{ResponseWriter: w, node: s}
	defer a.forget()
	s.gw.ServeHTTP(a, r)
}

// adopter is the ResponseWriter the gateway's WebSocket upgrader hijacks
// through: its Hijack adopts the connection into the node's caps and
// registers it for Close. After the hijack, writes through the
// ResponseWriter (an upgrader's error answer) are dropped: the
// connection is the adopter's to answer.
type adopter struct {
	http.ResponseWriter
	node     *Node
	sock     net.Conn // the socket under TLS, which Close closes; nil until hijacked
	hijacked bool
}

func (a *adopter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(a.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	a.hijacked = true
	sock := nc
	if tc, ok := nc.(*tls.Conn); ok {
		sock = tc.NetConn()
	}
	s := a.node
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = sock.Close()
		return nil, nil, ErrClosed
	}
	a.sock = sock
	s.upgrading[sock] = struct{}{} // Close closes it if the gateway has not ended it
	s.mu.Unlock()
	lc, err := s.ln.Adopt(nc)
	if err != nil {
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		httpserve.WriteRawError(nc, http.StatusTooManyRequests, "Too many voice gateway connections from this address.")
		_ = sock.Close()
		return nil, nil, err
	}
	return lc, brw, nil
}

// forget unregisters the hijacked connection once the gateway is done
// with it (it has closed it).
func (a *adopter) forget() {
	if a.sock == nil {
		return
	}
	a.node.mu.Lock()
	delete(a.node.upgrading, a.sock)
	a.node.mu.Unlock()
}

func (a *adopter) WriteHeader(status int) {
	if !a.hijacked {
		a.ResponseWriter.WriteHeader(status)
	}
}

func (a *adopter) Write(p []byte) (int, error) {
	if a.hijacked {
		return 0, http.ErrHijacked
	}
	return a.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach net/http's writer.
func (a *adopter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// closeFronted closes the connections the gateway has not ended (a
// handshake in progress) and waits for the requests ServeHTTP runs.
func (s *Node) closeFronted(ctx context.Context) error {
	s.mu.Lock()
	socks := make([]net.Conn, 0, len(s.upgrading))
	for c := range s.upgrading {
		socks = append(socks, c)
	}
	s.mu.Unlock()
	for _, c := range socks {
		_ = c.Close()
	}
	if err := lifecycle.WaitContext(ctx, &s.fronted); err != nil {
		return fmt.Errorf("voicenode: waiting for the web origin's voice connections: %w", err)
	}
	return nil
}

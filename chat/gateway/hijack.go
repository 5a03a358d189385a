package gateway

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parleyhq/parley/internal/httpserve"
)

// ServeHTTP serves the gateway on an HTTP server's request: how the web
// origin (one TLS listener that net/http serves) hands a browser's
// WebSocket to the gateway in-process, so the gateway sees the browser's
// own address. It checks the upgrade request (a Discord-shaped JSON error
// otherwise), hijacks the connection, applies the same per-IP caps as the
// gateway's listener (Config.Conns, counted together with it; 429 over a
// cap), answers 101 and hands the connection to the adopt loop, which
// starts its reader and writer goroutines. From then on it is a gateway
// connection like any other: Hello, the identify timeout, heartbeats,
// Resume and Close apply; READY's resume_gateway_url is the URL it came
// in on.
//
// WebSocket over HTTP/2 (RFC 8441) is refused with 505: browsers open an
// HTTP/1.1 connection for a WebSocket unless the server offers extended
// CONNECT, which Go's HTTP/2 server does not by default.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := checkUpgrade(r)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			for k, v := range he.header {
				w.Header().Set(k, v)
			}
			httpserve.WriteError(w, he.status, he.msg)
		}
		return
	}
	// The handshake runs on net/http's goroutine but is counted in
	// s.work, so Close waits for it (and cuts it short: upgrading). The
	// Add happens under mu while closed is unset, so before Close waits.
	s.mu.Lock()
	if s.closed.Load() || !s.started {
		s.mu.Unlock()
		httpserve.WriteError(w, http.StatusServiceUnavailable, "The gateway is not running.")
		return
	}
	s.work.Add(1)
	s.mu.Unlock()
	defer s.work.Done()

	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		httpserve.WriteError(w, http.StatusInternalServerError, "500: Internal Server Error")
		return
	}
	hc := newHijacked(nc)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = hc.Close()
		return
	}
	s.upgrading[hc] = struct{}{} // Close closes it: every step below fails at once
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.upgrading, hc)
		s.mu.Unlock()
	}()
	// net/http may have set deadlines (its read and write timeouts).
	_ = hc.SetDeadline(time.Now().Add(10 * time.Second))
	if brw.Reader.Buffered() > 0 {
		// A client must wait for the 101 before it sends (RFC 6455 §4.1).
		httpserve.WriteRawError(hc, http.StatusBadRequest, "Data sent before the WebSocket handshake completed.")
		_ = hc.Close()
		return
	}
	lc, err := s.ln.Adopt(hc)
	if err != nil {
		httpserve.WriteRawError(hc, http.StatusTooManyRequests, "Too many gateway connections from this address.")
		_ = hc.Close()
		return
	}
	if _, err := lc.Write(switchingProtocols(r.Header.Get("Sec-WebSocket-Key"))); err != nil {
		s.cfg.Logger.Debug("gateway upgrade", "err", err, "remote", r.RemoteAddr)
		_ = lc.Close()
		return
	}
	_ = lc.SetDeadline(time.Time{})
	c := s.open(lc, nil, p)
	if c == nil {
		return
	}
	// Hello (or the refusal) is queued before the reader starts, so it is
	// the first frame whatever the client sends; the writer finds it
	// signalled when it starts.
	s.helloOrRefuse(c, p)
	select {
	case s.adopt <- c:
	case <-s.quit:
		s.drop(c, ErrClosed)
	}
}

// adoptLoop starts the reader and writer goroutines of each connection
// ServeHTTP hands over, until Close (as the accept loop starts upgrades);
// ctx is the lifetime context of Start, for the backend calls.
func (s *Server) adoptLoop(ctx context.Context) {
	for {
		select {
		case c := <-s.adopt:
			s.goWork(func() { s.readLoop(ctx, c) })
			s.goWork(c.writeLoop)
		case <-s.quit:
			return
		}
	}
}

// readLoop reads an adopted connection frame by frame until it closes
// (the poller's work, for a connection the poller cannot watch).
func (s *Server) readLoop(ctx context.Context, c *wsConn) {
	for !c.dead.Load() && !c.isClosing() {
		s.readable(ctx, c)
	}
}

// writeLoop is an adopted connection's writer: it flushes whenever the
// connection is kicked, blocking up to Config.WriteTimeout per write (a
// TLS write cannot be cut short and resumed, as finishSlow does for a
// polled one), until drop.
func (c *wsConn) writeLoop() {
	for {
		select {
		case <-c.wake:
			c.flush(true)
		case <-c.gone:
			return
		}
	}
}

// hijacked is a connection net/http handed over. Its Close closes the
// socket under a TLS connection without the close_notify alert that
// tls.Conn.Close sends first, which can block for seconds on a client
// that stopped reading (Close must never wait for a client); the
// WebSocket close frame has said goodbye already.
type hijacked struct {
	net.Conn          // as net/http had it (a *tls.Conn on the web origin)
	sock     net.Conn // what Close closes
}

func newHijacked(nc net.Conn) hijacked {
	h := hijacked{Conn: nc, sock: nc}
	if tc, ok := nc.(*tls.Conn); ok {
		h.sock = tc.NetConn()
	}
	return h
}

func (h hijacked) Close() error { return h.sock.Close() }

// NetConn returns the connection as net/http had it (connlimit.Admit
// looks through it).
func (h hijacked) NetConn() net.Conn { return h.Conn }

// httpError is an upgrade request the gateway refuses.
type httpError struct {
	status int
	msg    string
	header map[string]string
}

func (e *httpError) Error() string { return fmt.Sprintf("gateway: %d %s", e.status, e.msg) }

// checkUpgrade checks a WebSocket opening handshake (RFC 6455 §4.2.1) and
// returns the gateway URL's parameters, or an *httpError.
func checkUpgrade(r *http.Request) (params, error) {
	fail := func(status int, msg string, kv ...string) (params, error) {
		e := &httpError{status: status, msg: msg}
		if len(kv) == 2 {
			e.header = map[string]string{kv[0]: kv[1]}
		}
		return params{}, e
	}
	switch {
	case r.ProtoMajor != 1:
		return fail(http.StatusHTTPVersionNotSupported, "The gateway takes WebSocket connections over HTTP/1.1.")
	case !hasToken(r.Header.Values("Upgrade"), "websocket"):
		return fail(http.StatusUpgradeRequired, "This is the gateway: connect with a WebSocket.", "Upgrade", "websocket")
	case r.Method != http.MethodGet:
		return fail(http.StatusMethodNotAllowed, "405: Method Not Allowed", "Allow", http.MethodGet)
	case !hasToken(r.Header.Values("Connection"), "upgrade"):
		return fail(http.StatusBadRequest, "Connection: Upgrade is missing.")
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return fail(http.StatusUpgradeRequired, "Unsupported WebSocket version (13 is).", "Sec-WebSocket-Version", "13")
	}
	if k, err := base64.StdEncoding.DecodeString(r.Header.Get("Sec-WebSocket-Key")); err != nil || len(k) != 16 {
		return fail(http.StatusBadRequest, "Bad Sec-WebSocket-Key.")
	}
	q := r.URL.Query()
	p := params{version: q.Get("v"), encoding: q.Get("encoding"), compress: q.Get("compress")}
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	if u, err := url.Parse(scheme + "://" + r.Host); err == nil && u.Host == r.Host && r.Host != "" && u.User == nil {
		u.Path = r.URL.Path
		p.resumeURL = u.String()
	}
	return p, nil
}

// hasToken reports whether a comma-separated header (RFC 9110 §5.6.1)
// lists token, in any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

// websocketGUID is RFC 6455's constant for Sec-WebSocket-Accept.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// switchingProtocols is the 101 answer to a checked handshake (RFC 6455
// §4.2.2; no subprotocol or extension is negotiated, as on the listener).
func switchingProtocols(key string) []byte {
	sum := sha1.Sum([]byte(key + websocketGUID))
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
}

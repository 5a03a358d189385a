package gateway

import (
	"errors"
	"net"
	"net/url"
	"time"

	"github.com/gobwas/ws"
)

// accept admits connections until Close closes the listener; each is
// upgraded on a work goroutine. Connections over the per-IP caps
// (Config.Conns) are closed inside s.ln.Accept, before any read.
func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				select {
				case <-s.quit:
					return
				case <-time.After(acceptBackoff):
				}
				continue
			}
			s.cfg.Logger.Error("gateway accept", "err", err)
			return
		}
		raw := nc
		if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
			raw = u.NetConn() // the socket under connlimit's wrapper, for the poller
		}
		s.goWork(func() { s.upgrade(nc, raw) })
	}
}

// params are the gateway URL's query parameters.
type params struct {
	version  string
	encoding string
	compress string
	// resumeURL is the URL READY gives for resuming when it is not
	// Config.ResumeURL (a connection ServeHTTP adopted: its own URL).
	resumeURL string
}

// upgrade does the WebSocket handshake (at most 10 s; Close cuts it short
// by closing nc) and registers the connection. raw is the socket under nc
// (connlimit's wrapper), for the poller.
func (s *Server) upgrade(nc, raw net.Conn) {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.upgrading[nc] = struct{}{}
	s.mu.Unlock()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	var p params
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if pu, err := url.ParseRequestURI(string(uri)); err == nil {
				q := pu.Query()
				p.version, p.encoding, p.compress = q.Get("v"), q.Get("encoding"), q.Get("compress")
			}
			return nil
		},
	}
	_, err := u.Upgrade(nc)
	s.mu.Lock()
	delete(s.upgrading, nc)
	s.mu.Unlock()
	if err != nil {
		s.cfg.Logger.Debug("gateway upgrade", "err", err, "remote", nc.RemoteAddr().String())
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	c := s.open(nc, raw, p)
	if c == nil || !s.helloOrRefuse(c, p) {
		return
	}
	if err := s.poller.add(c); err != nil {
		s.cfg.Logger.Warn("gateway poll", "err", err)
		s.drop(c, err)
	}
}

// open registers an upgraded connection (nil once Close has begun: nc is
// closed then). raw is the socket the poller watches (nil for one that
// ServeHTTP adopted, which a reader goroutine of its own reads).
func (s *Server) open(nc, raw net.Conn, p params) *wsConn {
	// compress=zlib-stream is served as stateless per-message deflate
	// (compressFrames); other values (zstd-stream) are ignored and text is
	// sent, which every client we know parses (chat-gateway.md §4).
	now := time.Now().UnixNano()
	c := &wsConn{srv: s, nc: nc, raw: raw, fd: -1, created: now, compress: p.compress == "zlib-stream", resumeURL: p.resumeURL}
	if raw == nil {
		c.wake, c.gone = make(chan struct{}, 1), make(chan struct{})
	}
	c.lastRecv.Store(now)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// helloOrRefuse closes a connection whose URL asks for an API version or
// encoding the gateway does not speak (false), or queues Hello (true).
func (s *Server) helloOrRefuse(c *wsConn, p params) bool {
	switch {
	case p.version != "" && p.version != "10" && p.version != "9":
		c.closeWith(CloseInvalidAPIVersion, false)
		return false
	case p.encoding != "" && p.encoding != "json":
		c.closeWith(CloseDecodeError, false)
		return false
	}
	c.queue(controlFrame(OpHello, map[string]int64{"heartbeat_interval": s.cfg.HeartbeatInterval.Milliseconds()}))
	return true
}

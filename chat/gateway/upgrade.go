package gateway

import (
	"net"
	"net/url"
	"time"

	"github.com/gobwas/ws"
)

// params are the gateway URL's query parameters.
type params struct {
	version  string
	encoding string
	compress string
}

func (s *Server) upgrade(nc net.Conn) {
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
	if _, err := u.Upgrade(nc); err != nil {
		s.cfg.Log.Debug("gateway upgrade", "err", err, "remote", nc.RemoteAddr().String())
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	// compress=zlib-stream is served as stateless per-message deflate
	// (compressFrames); other values (zstd-stream) are ignored and text is
	// sent, which every client we know parses (chat-gateway.md §4).
	now := time.Now().UnixNano()
	c := &wsConn{srv: s, nc: nc, created: now, compress: p.compress == "zlib-stream"}
	c.lastRecv.Store(now)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	switch {
	case p.version != "" && p.version != "10" && p.version != "9":
		c.closeWith(CloseInvalidAPIVersion, false)
		return
	case p.encoding != "" && p.encoding != "json":
		c.closeWith(CloseDecodeError, false)
		return
	}
	c.queue(controlFrame(OpHello, map[string]int64{"heartbeat_interval": s.cfg.HeartbeatInterval.Milliseconds()}))
	if err := s.poller.add(c); err != nil {
		s.cfg.Log.Warn("gateway poll", "err", err)
		s.drop(c, err)
	}
}

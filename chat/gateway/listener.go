package gateway

import (
	"net"

	"github.com/parleyhq/parley/internal/connlimit"
)

// DefaultConns are the gateway's per-IP caps: open connections, and
// connections that have not identified or resumed yet. A client (a bot
// process, a browser tab) holds one connection per shard and identifies
// right after Hello; a NAT of many users stays well within them.
var DefaultConns = connlimit.Config{PerIP: 256, PendingPerIP: 16}

// capOrDefault maps a configured cap to connlimit's: zero takes def, a
// negative value means no cap.
func capOrDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// rawListener remembers the connection its Accept returned last, so the
// accept loop (its only caller, through the connlimit.Listener wrapping
// it) can reach the socket behind connlimit's wrapper: the poller needs
// its descriptor. connlimit's wrapper does the I/O, Close (giving the
// connection's place back) and Admit.
type rawListener struct {
	net.Listener
	last net.Conn // set by Accept; read by the accept loop right after
}

func (l *rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	l.last = c
	return c, err
}

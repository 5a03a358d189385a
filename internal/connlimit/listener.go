package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Config sets the caps; zero means unlimited.
type Config struct {
	// PerIP bounds the open connections of one client address.
	PerIP int
	// PendingPerIP bounds the connections of one client address that have
	// not been admitted (authenticated) yet.
	PendingPerIP int
}

// Default are the caps Parley's gateways (chat's and the voice node's)
// take where their Config leaves one zero: 256 open connections per
// client IP and 16 of them not yet authenticated. A client (a bot
// process, a browser tab, a voice client) holds one connection per shard
// or call and identifies right after Hello, within a second; a NAT of
// many users stays well within them.
var Default = Config{PerIP: 256, PendingPerIP: 16}

// WithDefaults returns c with each zero cap taken from def and each
// negative one meaning no cap: how servers turn a flag's value (0 unset,
// -1 off) into a Config. Every value is valid: there is no Validate.
func (c Config) WithDefaults(def Config) Config {
	pick := func(v, d int) int {
		switch {
		case v == 0:
			return d
		case v < 0:
			return 0
		}
		return v
	}
	return Config{PerIP: pick(c.PerIP, def.PerIP), PendingPerIP: pick(c.PendingPerIP, def.PendingPerIP)}
}

// Rejections counts connections closed at Accept, by the cap they hit.
type Rejections struct {
	PerIP, Pending uint64
}

// Listener wraps a net.Listener with the caps.
type Listener struct {
	net.Listener
	cfg Config

	mu    sync.Mutex // guards the maps
	open  map[netip.Addr]int
	unadm map[netip.Addr]int

	rejectedPerIP, rejectedPending atomic.Uint64
}

// Wrap returns ln with the caps of cfg.
func Wrap(ln net.Listener, cfg Config) *Listener {
	return &Listener{Listener: ln, cfg: cfg, open: map[netip.Addr]int{}, unadm: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; connections over a
// cap are closed at once and counted.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, err := l.Adopt(c)
		if err != nil {
			_ = c.Close()
			continue
		}
		return lc, nil
	}
}

// Adopt counts c, a connection another listener accepted (one an HTTP
// server handed over after a WebSocket upgrade, say), against l's caps
// as if l had accepted it, and returns it wrapped: its Close gives the
// place back, and Admit finds it. Over a cap it counts the refusal and
// returns ErrPerIP or ErrPending, leaving c open for the caller to answer
// and close.
func (l *Listener) Adopt(c net.Conn) (net.Conn, error) {
	ip := remoteIP(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.cfg.PerIP > 0 && l.open[ip] >= l.cfg.PerIP:
		l.rejectedPerIP.Add(1)
		return nil, ErrPerIP
	case l.cfg.PendingPerIP > 0 && l.unadm[ip] >= l.cfg.PendingPerIP:
		l.rejectedPending.Add(1)
		return nil, ErrPending
	}
	l.open[ip]++
	l.unadm[ip]++
	return &conn{Conn: c, l: l, ip: ip}, nil
}

// Rejections returns the counts of connections refused so far.
func (l *Listener) Rejections() Rejections {
	return Rejections{PerIP: l.rejectedPerIP.Load(), Pending: l.rejectedPending.Load()}
}

// Open reports the open connections of ip (tests, debug).
func (l *Listener) Open(ip netip.Addr) (open, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[ip], l.unadm[ip]
}

func (l *Listener) release(ip netip.Addr, admitted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
	if !admitted {
		if l.unadm[ip]--; l.unadm[ip] <= 0 {
			delete(l.unadm, ip)
		}
	}
}

func (l *Listener) admit(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unadm[ip]--; l.unadm[ip] <= 0 {
		delete(l.unadm, ip)
	}
}

// remoteIP is the address a connection counts against: its IPv4
// address, or its IPv6 /64 (one subscriber's prefix, which a client can
// otherwise spread over freely).
func remoteIP(c net.Conn) netip.Addr { return ClientIP(c.RemoteAddr().String()) }

// A conn's state moves pending → admitted → closed, or pending → closed,
// in one atomic word, so that Admit and Close racing each give back the
// pending place at most once between them.
const (
	statePending int32 = iota
	stateAdmitted
	stateClosed
)

// conn is an accepted connection; it gives its place back on Close.
type conn struct {
	net.Conn
	l  *Listener
	ip netip.Addr

	state atomic.Int32 // statePending, stateAdmitted or stateClosed
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if was := c.state.Swap(stateClosed); was != stateClosed {
		c.l.release(c.ip, was == stateAdmitted)
	}
	return err
}

// NetConn returns the accepted connection itself (for a server that needs
// its descriptor, such as an epoll loop); I/O and Close must still go
// through c, or the place is never given back.
func (c *conn) NetConn() net.Conn { return c.Conn }

func (c *conn) admit() {
	if c.state.CompareAndSwap(statePending, stateAdmitted) {
		c.l.admit(c.ip)
	}
}

// Admit marks c, or the connection it wraps (a *tls.Conn, or anything with
// a NetConn method), as authenticated: it no longer counts against
// PendingPerIP. It does nothing for a connection no Listener accepted.
func Admit(c net.Conn) {
	for c != nil {
		if lc, ok := c.(*conn); ok {
			lc.admit()
			return
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		c = u.NetConn()
	}
}

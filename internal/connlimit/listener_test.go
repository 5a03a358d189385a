package connlimit

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// dialFrom connects to ln from the loopback address src.
func dialFrom(t *testing.T, ln net.Listener, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// accepted serves l in the background, sending every accepted conn.
func accepted(t *testing.T, l *Listener) <-chan net.Conn {
	t.Helper()
	out := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			out <- c
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return out
}

func TestPendingAndPerIPCaps(t *testing.T) {
	testkit.NoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, Config{PerIP: 3, PendingPerIP: 2})
	got := accepted(t, l)
	a := netip.MustParseAddr("127.0.0.1")

	dialFrom(t, l, "127.0.0.1")
	dialFrom(t, l, "127.0.0.1")
	c1, c2 := <-got, <-got
	dialFrom(t, l, "127.0.0.1") // third pending: refused
	testkit.Eventually(t, 5*time.Second, func() bool { return l.Rejections().Pending == 1 }, "pending rejection")

	other := dialFrom(t, l, "127.0.0.2") // another address is not affected
	_ = other
	<-got

	Admit(c1)
	dialFrom(t, l, "127.0.0.1") // a pending place is free again
	c3 := <-got
	Admit(c2)
	Admit(c3)
	dialFrom(t, l, "127.0.0.1") // 3 open already: refused by PerIP
	testkit.Eventually(t, 5*time.Second, func() bool { return l.Rejections().PerIP == 1 }, "per-IP rejection")
	if open, pending := l.Open(a); open != 3 || pending != 0 {
		t.Fatalf("open %d pending %d, want 3 and 0", open, pending)
	}
	_ = c1.Close()
	_ = c1.Close() // twice: counted once
	if open, _ := l.Open(a); open != 2 {
		t.Fatalf("open %d after a close, want 2", open)
	}
	Admit(c1) // after close: no effect
	if _, pending := l.Open(a); pending != 0 {
		t.Fatalf("pending %d", pending)
	}
}

func TestAdmitThroughTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, Config{PendingPerIP: 1})
	got := accepted(t, l)
	dialFrom(t, l, "127.0.0.1")
	raw := <-got
	Admit(tls.Server(raw, &tls.Config{}))
	if _, pending := l.Open(netip.MustParseAddr("127.0.0.1")); pending != 0 {
		t.Fatalf("pending %d after Admit through a tls.Conn", pending)
	}
	_ = raw.Close()
}

func TestWithDefaultsAndIPv6(t *testing.T) {
	def := Config{PerIP: 256, PendingPerIP: 16}
	for _, tt := range []struct{ in, want Config }{
		{Config{}, def},
		{Config{PerIP: -1, PendingPerIP: 4}, Config{PerIP: 0, PendingPerIP: 4}},
		{Config{PerIP: 9, PendingPerIP: -1}, Config{PerIP: 9}},
	} {
		if got := tt.in.WithDefaults(def); got != tt.want {
			t.Errorf("%+v.WithDefaults = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	a := fakeAddrConn{addr: "[2001:db8:1:2:aaaa::1]:5"}
	b := fakeAddrConn{addr: "[2001:db8:1:2:bbbb::9]:6"}
	c := fakeAddrConn{addr: "[2001:db8:1:3::1]:7"}
	if remoteIP(a) != remoteIP(b) || remoteIP(a) == remoteIP(c) {
		t.Fatalf("IPv6 /64 grouping: %v %v %v", remoteIP(a), remoteIP(b), remoteIP(c))
	}
	if got := remoteIP(fakeAddrConn{addr: "[::ffff:10.0.0.1]:1"}); got != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("mapped IPv4: %v", got)
	}
}

type fakeAddrConn struct {
	net.Conn
	addr string
}

func (f fakeAddrConn) RemoteAddr() net.Addr { return addrString(f.addr) }

type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }

// TestAdmitCloseRace: Admit and Close racing on one connection give its
// pending place back once between them; another connection's place (the
// witness's) is never taken with it. (With two flags, admit could see the
// connection open, Close release the place as pending, and admit take a
// pending place again: under -race this test caught it within a few
// thousand rounds every time.)
func TestAdmitCloseRace(t *testing.T) {
	in := &chanListener{conns: make(chan net.Conn)}
	l := Wrap(in, Config{})
	next := func() net.Conn {
		go func() { in.conns <- nopConn{fakeAddrConn{addr: "10.0.0.1:1"}} }()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ip := netip.MustParseAddr("10.0.0.1")
	witness := next()
	for i := range 5000 {
		c := next()
		// Both start together: each spins until the other is ready.
		var ready atomic.Int32
		var wg sync.WaitGroup
		race := func(f func()) {
			wg.Go(func() {
				ready.Add(1)
				for ready.Load() < 2 {
					runtime.Gosched()
				}
				f()
			})
		}
		race(func() { Admit(c) })
		race(func() { _ = c.Close() })
		wg.Wait()
		if open, pending := l.Open(ip); open != 1 || pending != 1 {
			t.Fatalf("round %d: open %d pending %d, want the witness alone (1 and 1)", i, open, pending)
		}
	}
	_ = witness.Close()
	if open, pending := l.Open(ip); open != 0 || pending != 0 {
		t.Fatalf("open %d pending %d after the witness closed", open, pending)
	}
}

// chanListener accepts the connections sent on conns.
type chanListener struct {
	net.Listener
	conns chan net.Conn
}

func (l *chanListener) Accept() (net.Conn, error) { return <-l.conns, nil }

// nopConn is a connection whose Close does nothing.
type nopConn struct{ fakeAddrConn }

func (nopConn) Close() error { return nil }

// TestAdopt: a connection another listener accepted counts against the
// same caps as the accepted ones, is refused with the cap's error (left
// open for the caller to answer), and gives its place back on Close.
func TestAdopt(t *testing.T) {
	in := &chanListener{conns: make(chan net.Conn)}
	l := Wrap(in, Config{PerIP: 2, PendingPerIP: 1})
	ip := netip.MustParseAddr("10.0.0.1")
	from := func() net.Conn { return nopConn{fakeAddrConn{addr: "10.0.0.1:1"}} }
	a, err := l.Adopt(from())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Adopt(from()); !errors.Is(err, ErrPending) {
		t.Fatalf("second pending: %v, want ErrPending", err)
	}
	Admit(a)
	b, err := l.Adopt(from())
	if err != nil {
		t.Fatal(err)
	}
	Admit(b)
	if _, err := l.Adopt(from()); !errors.Is(err, ErrPerIP) {
		t.Fatalf("third open: %v, want ErrPerIP", err)
	}
	if r := l.Rejections(); r.PerIP != 1 || r.Pending != 1 {
		t.Fatalf("rejections %+v", r)
	}
	_ = a.Close()
	if open, pending := l.Open(ip); open != 1 || pending != 0 {
		t.Fatalf("open %d pending %d after a close, want 1 and 0", open, pending)
	}
}

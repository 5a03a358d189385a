package gateway

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/testkit"
)

// dialFrom opens a gateway connection from the loopback address src
// ("": the default source address).
func dialFrom(t *testing.T, url, src string) *client {
	t.Helper()
	d := ws.Dialer{NetDial: testkit.DialerFrom(src).DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	return c
}

// refused reports whether a TCP connection from src is closed by the
// server before any byte (a per-IP cap at accept).
func refused(t *testing.T, addr, src string) bool {
	t.Helper()
	nc, err := testkit.DialerFrom(src).Dial("tcp", addr)
	if err != nil {
		return true
	}
	defer nc.Close()
	_, _ = io.WriteString(nc, "GET /?v=10 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	b := make([]byte, 1)
	_, err = nc.Read(b)
	return err != nil
}

// TestConnCaps (issue item 14): the gateway caps connections per client
// IP at accept — pending (not identified) ones and open ones — and
// identifying frees a pending place; other addresses are not affected.
func TestConnCaps(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, func(c *Config) { c.Conns = connlimit.Config{PerIP: 3, PendingPerIP: 2} })
	addr := strings.TrimPrefix(url, "ws://")
	a := dialFrom(t, url, "127.0.3.1")
	a.expect("10")
	b := dialFrom(t, url, "127.0.3.1")
	b.expect("10")
	if !refused(t, addr, "127.0.3.1") {
		t.Fatal("a third pending connection from one address was served")
	}
	other := dialFrom(t, url, "127.0.3.2")
	other.expect("10")
	a.send(identifyPayload("good", 1))
	a.expect("READY")
	c := dialFrom(t, url, "127.0.3.1") // a pending place is free again
	c.expect("10")
	if !refused(t, addr, "127.0.3.1") {
		t.Fatal("a fourth open connection from one address was served")
	}
	if st := s.Stats(); st.RefusedPending != 1 || st.RefusedPerIP != 1 {
		t.Fatalf("refusals: %+v", st)
	}
}

// TestIdentifyTimeout (issue item 14): a connection that does not
// identify within IdentifyTimeout is closed with 4003; the default is a
// few seconds.
func TestIdentifyTimeout(t *testing.T) {
	if d := (Config{}).withDefaults().IdentifyTimeout; d > 10*time.Second {
		t.Fatalf("default identify timeout %v", d)
	}
	_, url, _ := startServer(t, func(c *Config) { c.IdentifyTimeout = 200 * time.Millisecond })
	c := dial(t, url)
	c.expect("10")
	start := time.Now()
	if got := c.expectClose(); got != int(CloseNotAuthenticated) {
		t.Fatalf("close %d, want 4003", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

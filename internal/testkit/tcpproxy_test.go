package testkit

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// echoServer echoes what each connection sends and closes the connection
// after echoing a chunk that holds a 'q'. t's cleanup stops it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil || bytes.IndexByte(buf[:n], 'q') >= 0 {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// roundTrip sends msg on c and reads what comes back until the target
// closes (msg ends in 'q').
func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a bound, not a wait
	got, _ := io.ReadAll(c)                                // a reset after a discarded echo is fine
	return string(got)
}

func dialProxy(t *testing.T, p *TCPProxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByProxy reports whether the proxy closes c (it reads EOF or a
// reset with nothing before it).
func closedByProxy(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return n == 0 && err != nil
}

func TestTCPProxy(t *testing.T) {
	NoLeaks(t)
	p := NewTCPProxy(t, echoServer(t))

	if got := roundTrip(t, dialProxy(t, p), "hello q"); got != "hello q" {
		t.Fatalf("relayed %q, want %q", got, "hello q")
	}

	t.Run("drop", func(t *testing.T) {
		open := dialProxy(t, p)
		if _, err := io.WriteString(open, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(open, make([]byte, 1)); err != nil {
			t.Fatalf("no echo before the drop: %v", err)
		}
		p.Drop()
		if !closedByProxy(t, open) {
			t.Fatal("a dropped connection stayed open")
		}
		if got := roundTrip(t, dialProxy(t, p), "again q"); got != "again q" {
			t.Fatalf("after a drop relayed %q, want %q", got, "again q")
		}
	})

	t.Run("cut and heal", func(t *testing.T) {
		open := dialProxy(t, p)
		if _, err := io.WriteString(open, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(open, make([]byte, 1)); err != nil {
			t.Fatalf("no echo before the cut: %v", err)
		}
		p.Cut()
		if !closedByProxy(t, open) {
			t.Fatal("a cut connection stayed open")
		}
		if !closedByProxy(t, dialProxy(t, p)) {
			t.Fatal("a cut proxy relayed a new connection")
		}
		p.Heal()
		if got := roundTrip(t, dialProxy(t, p), "healed q"); got != "healed q" {
			t.Fatalf("after heal relayed %q, want %q", got, "healed q")
		}
	})

	t.Run("stall", func(t *testing.T) {
		stalled := dialProxy(t, p)
		if _, err := io.WriteString(stalled, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(stalled, make([]byte, 1)); err != nil {
			t.Fatalf("no echo before the stall: %v", err)
		}
		p.Stall()
		// The target echoes "yq" and closes: its FIN follows the echo, so
		// the client reads the end with nothing before it.
		if got := roundTrip(t, stalled, "yq"); got != "" {
			t.Fatalf("a stalled connection relayed %q", got)
		}
		if got := roundTrip(t, dialProxy(t, p), "fresh q"); got != "fresh q" {
			t.Fatalf("a connection after the stall relayed %q, want %q", got, "fresh q")
		}
	})

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		_ = c.Close()
		t.Fatal("a closed proxy accepted")
	}
}

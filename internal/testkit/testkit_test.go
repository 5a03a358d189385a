package testkit

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	var n atomic.Int32
	if !Poll(time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("Poll gave up on a condition that became true")
	}
	if Poll(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("Poll reported a false condition as true")
	}
}

func TestNoLeaksPassesAfterStop(t *testing.T) {
	NoLeaks(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); <-stop }()
	t.Cleanup(func() { close(stop); <-done })
}

func TestTLS(t *testing.T) {
	srv, cli := TLS(t)
	if len(srv.Certificates) != 1 || cli.RootCAs == nil {
		t.Fatalf("server certs %d, client roots %v", len(srv.Certificates), cli.RootCAs)
	}
}

func TestDialerFrom(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	nc, err := DialerFrom("127.0.0.2").Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if a, ok := (<-accepted).(*net.TCPAddr); !ok || !a.IP.Equal(net.ParseIP("127.0.0.2")) {
		t.Fatalf("connection from %v, want 127.0.0.2", a)
	}
	if d := DialerFrom(""); d.LocalAddr != nil {
		t.Fatalf("DialerFrom(\"\") binds %v", d.LocalAddr)
	}
}

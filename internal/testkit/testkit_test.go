package testkit

import (
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

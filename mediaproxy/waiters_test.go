//go:build unix

package mediaproxy

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// TestWaiterCauses: a waiter's context ends with cause ErrClientGone when
// its client closes the connection, and ErrClosed when the set halts.
func TestWaiterCauses(t *testing.T) {
	testkit.NoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	ws := newWaiterSet()
	ws.start()
	gone, doneGone := ws.add(context.Background(), server)
	defer doneGone()
	other, doneOther := ws.add(context.Background(), nil)
	defer doneOther()
	_ = client.Close()
	select {
	case <-gone.Done():
	case <-time.After(5 * time.Second): // 50 watcher rounds
		t.Fatal("the waiter's context did not end after its client left")
	}
	if c := context.Cause(gone); !errors.Is(c, ErrClientGone) {
		t.Fatalf("cause %v, want ErrClientGone", c)
	}
	ws.halt()
	ws.wait()
	if c := context.Cause(other); !errors.Is(c, ErrClosed) {
		t.Fatalf("cause after halt %v, want ErrClosed", c)
	}
}

package signaling

import (
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// TestBatchConn: writes go straight through while the writer is idle, are
// held during a burst and written together when it ends, and Close writes
// what is held.
func TestBatchConn(t *testing.T) {
	testkit.NoLeaks(t)
	server, client := net.Pipe()
	b := &batchConn{Conn: server}
	t.Cleanup(func() { b.Close(); client.Close() })
	got := make(chan string, 8)
	go func() { // owned by the test: it ends when client closes
		buf := make([]byte, 1<<16)
		for {
			n, err := client.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	read := func(want string) {
		t.Helper()
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("read %q, want %q", s, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nothing read, want %q", want)
		}
	}
	mustWrite := func(s string) {
		t.Helper()
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("idle")
	read("idle")

	b.hold.Store(true)
	mustWrite("a")
	mustWrite("b")
	if err := b.release(); err != nil {
		t.Fatal(err)
	}
	read("ab")

	b.hold.Store(true)
	mustWrite("held")
	done := make(chan error, 1)
	go func() { done <- b.Close() }() // net.Pipe: Close's flush waits for the read
	read("held")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-got; ok {
		t.Fatal("read after close")
	}
	if _, err := b.Write([]byte("x")); err == nil {
		t.Fatalf("write after close: %v", err)
	}
}

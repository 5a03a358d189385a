package voicebench

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

func TestReflectorForwardsToRoom(t *testing.T) {
	testkit.NoLeaks(t) // checked after the deferred Close
	r, err := NewReflector(ReflectorConfig{StatsAddr: "off"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := r.Close(ctx); err != nil { // idempotent
			t.Errorf("second Close: %v", err)
		}
	}()
	raddr, _ := net.ResolveUDPAddr("udp4", r.UDPAddr())
	dial := func(room, idx int) *net.UDPConn {
		c, err := net.DialUDP("udp4", nil, raddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		req := joinDatagram(room, uint32(idx+1), idx)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != string(req) {
			t.Fatalf("join ack %q, %v", buf[:n], err)
		}
		return c
	}
	a, b, c, d := dial(1, 0), dial(1, 1), dial(2, 2), dial(2, 3)
	read := func(name string, conn *net.UDPConn) string {
		t.Helper()
		buf := make([]byte, 64)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(buf[:n])
	}
	stranger, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	if _, err := stranger.Write([]byte("not a member")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("hello room 1")); err != nil {
		t.Fatal(err)
	}
	if got := read("b", b); got != "hello room 1" {
		t.Fatalf("b got %q", got)
	}
	// Neither the sender nor another room hears it: the first thing each
	// reads is a marker its room sent after b had the packet (loopback UDP
	// keeps one sender's order).
	for _, m := range []struct {
		name     string
		from, to *net.UDPConn
	}{{"sender", b, a}, {"other room", d, c}} {
		if _, err := m.from.Write([]byte("marker")); err != nil {
			t.Fatal(err)
		}
		if got := read(m.name, m.to); got != "marker" {
			t.Errorf("%s got %q before the marker", m.name, got)
		}
	}
	waitCounters := func(in, out, unknown uint64) {
		t.Helper()
		var ctr Counters
		testkit.Eventually(t, 5*time.Second, func() bool {
			ctr = r.Counters()
			return ctr.In == in && ctr.Out == out && ctr.Drops["unknown_source"] == unknown
		}, "counters %+v, want in %d out %d unknown %d", &ctr, in, out, unknown)
	}
	waitCounters(3, 3, 1)

	// After b leaves, a's packets reach nobody and b's are unknown.
	if _, err := b.Write(reflectorDatagram(leaveMagic, 1, 2, 1)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return r.leaves.Load() == 1 }, "leave not processed")
	if _, err := a.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	waitCounters(4, 3, 2)
}

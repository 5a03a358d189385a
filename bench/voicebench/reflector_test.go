package voicebench

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestReflectorForwardsToRoom(t *testing.T) {
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
	a, b, c := dial(1, 0), dial(1, 1), dial(2, 2)
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
	buf := make([]byte, 64)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "hello room 1" {
		t.Fatalf("b got %q, %v", buf[:n], err)
	}
	// Neither the sender nor another room hears it.
	for name, conn := range map[string]*net.UDPConn{"sender": a, "other room": c} {
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := conn.Read(buf); err == nil {
			t.Errorf("%s got %q", name, buf[:n])
		}
	}
	waitCounters := func(in, out, unknown uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			ctr := r.Counters()
			if ctr.In == in && ctr.Out == out && ctr.Drops["unknown_source"] == unknown {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counters %+v, want in %d out %d unknown %d", ctr, in, out, unknown)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCounters(1, 1, 1)

	// After b leaves, a's packets reach nobody and b's are unknown.
	if _, err := b.Write(reflectorDatagram(leaveMagic, 1, 2, 1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.leaves.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("leave not processed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.Write([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	waitCounters(2, 1, 2)
}

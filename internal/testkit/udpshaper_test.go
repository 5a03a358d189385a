package testkit_test

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// echoUDP answers every datagram with itself until the test ends.
func echoUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				_, _ = c.WriteToUDP(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); <-done })
	return c.LocalAddr().String()
}

// TestUDPShaper: unshaped datagrams go both ways; random loss drops about
// the share asked for; a rate cap passes about its rate (burst and all)
// and drops the rest; lifting both lets everything through again. Every
// datagram is counted once.
func TestUDPShaper(t *testing.T) {
	testkit.NoLeaks(t)
	s := testkit.NewUDPShaper(t, echoUDP(t), 7)
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// send sends n datagrams of size bytes, one every gap (pacing a
	// sender; kernel buffers would drop an unpaced burst).
	send := func(n, size int, gap time.Duration) {
		t.Helper()
		p := bytes.Repeat([]byte{1}, size)
		tk := time.NewTicker(gap)
		defer tk.Stop()
		for range n {
			if _, err := c.Write(p); err != nil {
				t.Fatal(err)
			}
			<-tk.C
		}
	}
	// Unshaped: the client's first datagram binds it.
	send(10, 100, time.Millisecond)
	testkit.Eventually(t, 2*time.Second, func() bool { return s.Down().Passed == 10 }, "10 echoed: %+v", s.Down())

	s.SetDown(testkit.UDPShape{Loss: 0.2})
	send(1000, 100, 500*time.Microsecond)
	testkit.Eventually(t, 2*time.Second, func() bool { d := s.Down(); return d.Passed+d.LossDrops == 1010 },
		"1000 more relayed or dropped: %+v", s.Down())
	if d := s.Down(); d.LossDrops < 150 || d.LossDrops > 250 {
		t.Fatalf("20 %% loss dropped %d of 1000", d.LossDrops)
	}

	// 400 kbit/s cap, 1.5 KB burst: 200 datagrams of 1000 bytes sent at
	// 1.6 Mbit/s over ~1 s pass about a quarter.
	before := s.Down()
	s.SetDown(testkit.UDPShape{Rate: 400_000, Burst: 1500})
	send(200, 1000, 5*time.Millisecond)
	testkit.Eventually(t, 2*time.Second, func() bool {
		d := s.Down()
		return d.Passed+d.RateDrops+d.LossDrops-before.Passed-before.LossDrops == 200
	}, "200 relayed or dropped: %+v", s.Down())
	passed := s.Down().Passed - before.Passed
	if passed < 35 || passed > 75 {
		t.Fatalf("rate cap passed %d of 200 (want about 50)", passed)
	}
	if s.Up().Passed < 1210 || s.Up().RateDrops+s.Up().LossDrops != 0 {
		t.Fatalf("uplink shaped: %+v", s.Up())
	}

	s.SetDown(testkit.UDPShape{})
	before = s.Down()
	send(50, 1000, time.Millisecond)
	testkit.Eventually(t, 2*time.Second, func() bool { return s.Down().Passed-before.Passed == 50 },
		"lifted: %+v", s.Down())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

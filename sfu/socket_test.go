package sfu

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestSocketOverflowCounted fills a reuseport socket's receive queue past
// its buffer and checks that the kernel's drop count reaches the stats.
func TestSocketOverflowCounted(t *testing.T) {
	s, err := listenReusePort(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.conn.Close()
	_ = s.conn.SetReadBuffer(4096)
	out, err := net.DialUDP("udp", nil, s.conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for range 2000 {
		_, _ = out.Write(make([]byte, 200))
	}
	r := &reader{sock: s, in: make([]ipv4.Message, 64)}
	for i := range r.in {
		r.in[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		r.in[i].OOB = make([]byte, 64)
	}
	// Each datagram carries the drop count at the time it was queued:
	// drain the queue, then one more datagram brings the count.
	drained := false
	for {
		if drained {
			_, _ = out.Write(make([]byte, 200))
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		k, err := s.bc.ReadBatch(r.in, 0)
		if err != nil {
			if drained {
				break
			}
			drained = true
			continue
		}
		r.countOverflows(&r.in[k-1])
		if drained {
			break
		}
	}
	if r.ls.drops[DropSocketOverflow] == 0 {
		t.Fatal("no socket overflow counted after flooding a 4 KiB receive buffer")
	}
	if got, ok := rxqOverflow(nil); ok || got != 0 {
		t.Fatal("empty control data parsed")
	}
}

func FuzzRxqOverflow(f *testing.F) {
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 40, 0, 0, 0, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) { _, _ = rxqOverflow(oob) })
}

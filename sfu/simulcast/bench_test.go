package simulcast

import (
	"testing"
	"time"
)

// BenchmarkPush: the steady state of a receiver on layer 1 of three: per
// op one frame of each layer (1, 2 and 4 packets), VP8, in order.
func BenchmarkPush(b *testing.B) {
	s := newSim(
		&simLayer{seq: 1, ts: 1, pid: 1, tl0: 1, perFrm: 1},
		&simLayer{seq: 1000, ts: 1000, pid: 100, tl0: 10, perFrm: 2},
		&simLayer{seq: 9000, ts: 9000, pid: 900, tl0: 90, perFrm: 4},
	)
	f, _ := New(Config{})
	_ = f.SetTarget(1)
	// Pre-build frames so the loop measures the Forwarder only.
	var frames [][]*simPkt
	for range 64 {
		frames = append(frames, s.nextFrame())
	}
	now := s.now
	b.ReportAllocs()
	i := 0
	var ext uint64
	for b.Loop() {
		fr := frames[i%len(frames)]
		if i%len(frames) == 0 {
			ext += 1 << 20 // move every SN and TS forward to keep them new
			now = now.Add(time.Second)
		}
		for _, p := range fr {
			q := p.Packet
			q.ExtSeq += ext
			q.ExtTS += ext
			_, _ = f.Push(now, &q)
		}
		i++
	}
	if f.Stats().Forwarded == 0 {
		b.Fatal("nothing forwarded")
	}
}

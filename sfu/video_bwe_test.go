package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestBWEUpdate: the loss-based estimator backs off on loss above 10 %
// (from at most 1.25 × the send rate),
// grows 8 % a second below 2 % (at least to the send rate), holds in
// between, and is unknown until the second report.
func TestBWEUpdate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		est   float64
		sent  uint64 // bytes in the 1 s interval
		loss  float64
		want  float64
		first bool
	}{
		{"first report: unknown", 0, 0, 0, 0, true},
		{"no loss, unknown: the send rate grown", 0, 100_000, 0, 864_000, false},
		{"no loss: grows 8 %", 1_000_000, 100_000, 0, 1_080_000, false},
		{"no loss: at least the send rate", 500_000, 100_000, 0, 800_000, false},
		{"heavy loss: a quarter above the send rate, less half the loss", 2_000_000, 100_000, 0.5, 750_000, false},
		{"heavy loss below the send rate", 400_000, 100_000, 0.2, 360_000, false},
		{"moderate loss: hold", 700_000, 100_000, 0.05, 700_000, false},
		{"floor", 40_000, 1_000, 0.9, bweMin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &receiverBWE{est: tt.est}
			if !tt.first {
				b.started, b.at = true, t0
			}
			b.sent.Store(tt.sent)
			got := b.update(t0.Add(time.Second), tt.loss)
			if d := got - tt.want; d > 1 || d < -1 {
				t.Fatalf("estimate %.0f, want %.0f", got, tt.want)
			}
		})
	}
}

// TestVideoBandwidthDowngrade: a receiver reporting heavy loss on the
// high layer is moved to the low layer (its Selector decides from the
// loss-based estimate), at the low layer's next keyframe.
func TestVideoBandwidthDowngrade(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100", "50")
	activate(a.p, st, true, true)
	out := st[0].SSRC
	big := make([]byte, 1000)
	send := func(n int, key bool) { // frame n on both layers, the high one big
		hi := append(vp8Packet(uint16(n), true, key, 0x10), big...)
		a.sendVideo(st[0].SSRC, voiceproto.PayloadTypeVP8, uint16(n), uint32(3000*n), true, hi)
		a.sendVideo(st[1].SSRC, voiceproto.PayloadTypeVP8, uint16(n), uint32(3000*n), true, vp8Packet(uint16(n), true, key, 0x20))
	}
	rr := func(loss uint8) {
		b.sendRTCP(&rtcp.ReceiverReport{SSRC: b.p.SSRC(), Reports: []rtcp.ReceptionReport{{SSRC: out, FractionLost: loss}}})
	}
	n := 0
	send(n, true)
	testkit.Eventually(t, 5*time.Second, func() bool { c, _ := a.p.VideoLayer(b.p); return c == 0 }, "high layer at first")
	rr(0)
	// Frames keep flowing while reports of 50 % loss arrive: the estimate
	// falls below the high layer and b moves down at a low keyframe.
	testkit.Eventually(t, 10*time.Second, func() bool {
		n++
		send(n, n%5 == 0)
		if n%10 == 0 {
			rr(128)
		}
		c, _ := a.p.VideoLayer(b.p)
		return c == 1
	}, "b on the low layer")
	t.Logf("estimate %d b/s after %d frames; %d estimates", b.p.Estimate(), n, h.srv.VideoStats().Estimates.Load())
}

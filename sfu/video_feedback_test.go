package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/sfu/videocodec"
	"github.com/parleyhq/parley/voiceproto"
)

// sendRTCP seals and sends RTCP packets from the peer (its audio SSRC in
// the clear header).
func (pe *peer) sendRTCP(pkts ...rtcp.Packet) {
	pe.t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		pe.t.Fatal(err)
	}
	pe.nonce++
	sealed, err := pe.cipher.SealRTCP(nil, b, voiceproto.ClientNonce(pe.nonce))
	if err != nil {
		pe.t.Fatal(err)
	}
	pe.raw(sealed)
}

// plis returns the media SSRCs of the PLIs the peer received.
func (pe *peer) plis() []uint32 {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	var out []uint32
	for _, b := range pe.rtcp {
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			pe.t.Errorf("%s: bad RTCP: %v", pe.name, err)
			continue
		}
		for _, p := range pkts {
			if pli, ok := p.(*rtcp.PictureLossIndication); ok {
				out = append(out, pli.MediaSSRC)
			}
		}
	}
	return out
}

// TestVideoKeyframeRequests: a receiver waiting for its target layer makes
// the SFU send the sender a PLI for that layer (sealed RTCP); a receiver's
// own PLI about the outgoing SSRC is passed on as a PLI for the layer it
// gets, and PLIs close together are coalesced.
func TestVideoKeyframeRequests(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100", "50")
	activate(a.p, st, true, true)
	b.p.SetSinkWants(voiceproto.MediaSinkWants{Any: -1, BySSRC: map[uint32]int{a.p.SSRC(): 50}})
	a.frame(st[1].SSRC, 0, false, 1) // a delta frame: b waits, and asks
	testkit.Eventually(t, 5*time.Second, func() bool { return len(a.plis()) == 1 }, "a PLI to the sender")
	if got := a.plis(); got[0] != st[1].SSRC {
		t.Fatalf("PLI for %d, want the low layer %d", got[0], st[1].SSRC)
	}
	a.frame(st[1].SSRC, 1, true, 2)
	b.waitTag(st[0].SSRC, 2)
	// b's own PLI (resent as a client would until one gets through the
	// 200 ms coalescing after the first) reaches the sender for b's layer.
	vs := h.srv.VideoStats()
	handled := func() uint64 { return vs.PLICoalesced.Load() + vs.PLIOut.Load() } // each request ends in one
	in0, h0, sent := vs.PLIIn.Load(), handled(), uint64(0)
	pli := &rtcp.PictureLossIndication{SenderSSRC: b.p.SSRC(), MediaSSRC: st[0].SSRC}
	testkit.Eventually(t, 5*time.Second, func() bool {
		b.sendRTCP(pli)
		sent++
		return len(a.plis()) == 2
	}, "the receiver's PLI passed on")
	if got := a.plis(); got[1] != st[1].SSRC {
		t.Fatalf("PLI for %d, want the layer b gets %d", got[1], st[1].SSRC)
	}
	// Settled: the resends still in flight when the second PLI arrived
	// (several on a loaded machine) have all been read, and every PLI the
	// SFU sent has reached the sender.
	testkit.Eventually(t, 5*time.Second, func() bool { return vs.PLIIn.Load() == in0+sent && handled() == h0+sent }, "the resent PLIs handled")
	delivered := func() bool { return uint64(len(a.plis())) == vs.PLIOut.Load() }
	testkit.Eventually(t, 5*time.Second, delivered, "the PLIs sent reached the sender")
	// Two in one compound packet: one is folded into the other (the first
	// may go out too, if the last one passed on is 200 ms old).
	in, co, out := vs.PLIIn.Load(), vs.PLICoalesced.Load(), vs.PLIOut.Load()
	b.sendRTCP(pli, pli)
	testkit.Eventually(t, 5*time.Second, func() bool { return vs.PLIIn.Load() == in+2 && handled() == co+out+2 }, "the two PLIs handled")
	if c, o := vs.PLICoalesced.Load()-co, vs.PLIOut.Load()-out; c < 1 {
		t.Fatalf("two PLIs at once: %d coalesced, %d sent", c, o)
	}
	testkit.Eventually(t, 5*time.Second, delivered, "the PLIs sent reached the sender")
}

// TestVideoPictureIDContinuity: across a layer switch the forwarded VP8
// picture IDs continue by one, and the sender's reports time the switch.
func TestVideoPictureIDContinuity(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100", "50")
	activate(a.p, st, true, true)
	b.p.SetSinkWants(voiceproto.MediaSinkWants{Any: -1, BySSRC: map[uint32]int{a.p.SSRC(): 50}})
	// Each layer its own picture IDs (low from 1000, high from 7000) and
	// RTP clock origin (high offset by 500000 ticks), reports for both.
	a.sendRTCP(&rtcp.SenderReport{SSRC: st[0].SSRC, NTPTime: 1 << 32, RTPTime: 500000},
		&rtcp.SenderReport{SSRC: st[1].SSRC, NTPTime: 1 << 32, RTPTime: 0})
	testkit.Eventually(t, 5*time.Second, func() bool { return h.srv.VideoStats().SenderReports.Load() == 2 }, "sender reports")
	frame := func(ssrc uint32, seq uint16, ts uint32, pic uint16, key bool, tag byte) {
		a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, seq, ts, false, vp8Packet(pic, true, key, tag))
		a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, seq+1, ts, true, vp8Packet(pic, false, false, tag))
	}
	frame(st[1].SSRC, 100, 3000, 1000, true, 1)
	frame(st[1].SSRC, 102, 6000, 1001, false, 2)
	b.waitTag(st[0].SSRC, 2)
	b.p.SetSinkWants(voiceproto.MediaSinkWants{Any: 100})
	frame(st[0].SSRC, 5000, 509000, 7000, true, 3) // capture time 9000: one frame after the low layer's 6000
	frame(st[0].SSRC, 5002, 512000, 7001, false, 4)
	got := b.waitTag(st[0].SSRC, 4)
	contiguous(t, got)
	var pics []uint16
	for _, f := range got {
		v, err := videocodec.ParseVP8(f.Opus)
		if err != nil {
			t.Fatal(err)
		}
		pics = append(pics, v.PictureID)
	}
	if want := []uint16{1000, 1000, 1001, 1001, 1002, 1002, 1003, 1003}; !slicesEqual(pics, want) {
		t.Fatalf("picture IDs %v, want %v", pics, want)
	}
	if d := got[4].Timestamp - got[3].Timestamp; d != 3000 {
		t.Fatalf("switch advanced the timestamp by %d, want 3000 (from the sender reports)", d)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestVideoNACK: a receiver's NACK of forwarded SNs is answered on the
// RTX SSRC with payload type VP8+1, the original (outgoing) SN first and
// the VP8 descriptor as forwarded; a NACK of an unknown SN is counted.
func TestVideoNACK(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100")
	activate(a.p, st, true)
	out := st[0].SSRC
	for n := range 3 {
		a.sendVideo(out, voiceproto.PayloadTypeVP8, uint16(40+2*n), uint32(3000*n), false, vp8Packet(uint16(900+n), true, n == 0, byte(n)))
		a.sendVideo(out, voiceproto.PayloadTypeVP8, uint16(41+2*n), uint32(3000*n), true, vp8Packet(uint16(900+n), false, false, byte(n)))
	}
	got := b.waitTag(out, 2)
	if len(got) != 6 {
		t.Fatalf("got %d packets", len(got))
	}
	lost := got[3]
	b.sendRTCP(&rtcp.TransportLayerNack{SenderSSRC: b.p.SSRC(), MediaSSRC: out,
		Nacks: []rtcp.NackPair{{PacketID: lost.Seq, LostPackets: 0}, {PacketID: lost.Seq + 100}}})
	rtx := b.waitRTX(st[0].RTXSSRC, 1)[0]
	if rtx.PayloadType != voiceproto.PayloadTypeVP8+1 || rtx.Timestamp != lost.Timestamp || rtx.Marker != lost.Marker {
		t.Fatalf("rtx header %+v, lost %+v", rtx.Header, lost.Header)
	}
	if osn := uint16(rtx.Opus[0])<<8 | uint16(rtx.Opus[1]); osn != lost.Seq || !bytes.Equal(rtx.Opus[2:], lost.Opus) {
		t.Fatalf("rtx payload osn %d %x, want %d %x", osn, rtx.Opus[2:], lost.Seq, lost.Opus)
	}
	vs := h.srv.VideoStats()
	testkit.Eventually(t, 5*time.Second, func() bool { return vs.RTXSent.Load() == 1 && vs.RTXMissed.Load() == 1 }, "counted")
	if n := h.srv.Stats().Snapshot().Retransmits; n != 1 {
		t.Fatalf("retransmits %d", n)
	}
}

// waitRTX waits for n packets on the RTX SSRC.
func (pe *peer) waitRTX(ssrc uint32, n int) []rtpFrame {
	pe.t.Helper()
	var got []rtpFrame
	testkit.Eventually(pe.t, 5*time.Second, func() bool { got = pe.framesOn(ssrc); return len(got) >= n }, "%d RTX packets", n)
	return got
}

// TestVideoRTCPBadInput: RTCP that is unsealed, malformed, about unknown
// or own SSRCs, or NACKs everything is counted or ignored; nothing
// panics and video keeps flowing.
func TestVideoRTCPBadInput(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100")
	activate(a.p, st, true)
	out := st[0].SSRC
	a.frame(out, 0, true, 1)
	b.waitTag(out, 1)
	vs := h.srv.VideoStats()
	b.raw([]byte{0x81, 206, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4})      // unsealed, unknown sender
	b.raw(append([]byte{0x81, 206, 0, 2}, be32(b.p.SSRC())...)) // sealed badly: too short
	pe := b.nonce
	b.nonce++
	garbage, _ := b.cipher.SealRTCP(nil, append([]byte{0x81, 206, 0, 9}, append(be32(b.p.SSRC()), 1, 2, 3)...), voiceproto.ClientNonce(pe+1))
	b.raw(garbage) // opens, does not parse
	all := make([]rtcp.NackPair, 40)
	for i := range all {
		all[i] = rtcp.NackPair{PacketID: uint16(17 * i), LostPackets: 0xffff}
	}
	b.sendRTCP(&rtcp.TransportLayerNack{SenderSSRC: b.p.SSRC(), MediaSSRC: out, Nacks: all},
		&rtcp.PictureLossIndication{MediaSSRC: 12345},
		&rtcp.TransportLayerNack{MediaSSRC: b.p.SSRC(), Nacks: all[:1]})
	a.sendRTCP(&rtcp.PictureLossIndication{MediaSSRC: out}) // about its own video
	testkit.Eventually(t, 5*time.Second, func() bool {
		return vs.RTCPMalformed.Load() == 1 && vs.NACKed.Load() == 40*17
	}, "bad RTCP counted (malformed %d, nacked %d)", vs.RTCPMalformed.Load(), vs.NACKed.Load())
	a.frame(out, 1, false, 2)
	b.waitTag(out, 2)
	t.Logf("rtx sent %d, missed %d, throttled %d", vs.RTXSent.Load(), vs.RTXMissed.Load(), vs.RTXThrottled.Load())
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

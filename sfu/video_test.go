package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// vp8Packet is an RFC 7741 payload: descriptor with a 15-bit picture ID,
// S on a frame's first packet, then a VP8 payload whose first byte says
// keyframe (P clear) or not; tag marks the packet for the test.
func vp8Packet(pic uint16, start, key bool, tag byte) []byte {
	b0 := byte(0x80) // X
	if start {
		b0 |= 0x10
	}
	b := []byte{b0, 0x80, 0x80 | byte(pic>>8), byte(pic)}
	first := byte(0x11) // P set: interframe
	if key {
		first = 0x10
	}
	if !start {
		first = 0x55 // not a payload header
	}
	return append(b, first, tag, 0xAA, 0xBB)
}

// sendVideo seals and sends one packet on ssrc with payload type pt.
func (pe *peer) sendVideo(ssrc uint32, pt uint8, seq uint16, ts uint32, marker bool, payload []byte) {
	pe.t.Helper()
	b := make([]byte, voiceproto.FixedHeaderLen, voiceproto.FixedHeaderLen+len(payload)+64)
	voiceproto.PutFixedHeader(b, marker, pt, seq, ts, ssrc)
	pe.nonce++
	sealed, err := pe.cipher.Seal(nil, append(b, payload...), voiceproto.ClientNonce(pe.nonce))
	if err != nil {
		pe.t.Fatal(err)
	}
	pe.raw(sealed)
}

// frame sends one two-packet VP8 frame n of a stream (seq 2n, 2n+1; ts
// 3000n) tagged tag.
func (pe *peer) frame(ssrc uint32, n int, key bool, tag byte) {
	pe.sendVideo(ssrc, voiceproto.PayloadTypeVP8, uint16(2*n), uint32(3000*n), false, vp8Packet(uint16(n), true, key, tag))
	pe.sendVideo(ssrc, voiceproto.PayloadTypeVP8, uint16(2*n+1), uint32(3000*n), true, vp8Packet(uint16(n), false, false, tag))
}

// framesOn returns what the peer received on ssrc.
func (pe *peer) framesOn(ssrc uint32) []rtpFrame {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	var out []rtpFrame
	for _, f := range pe.got {
		if f.SSRC == ssrc {
			out = append(out, f)
		}
	}
	return out
}

// waitTag waits until the peer's last packet on ssrc is tagged tag and
// returns everything received on ssrc.
func (pe *peer) waitTag(ssrc uint32, tag byte) []rtpFrame {
	pe.t.Helper()
	var got []rtpFrame
	testkit.Eventually(pe.t, 5*time.Second, func() bool {
		got = pe.framesOn(ssrc)
		// The frame's last packet (marker): waiting for its first let a
		// loaded machine return before the second had arrived.
		return len(got) > 0 && got[len(got)-1].Opus[5] == tag && got[len(got)-1].Marker
	}, "%s: the frame tagged %#x on %d", pe.name, tag, ssrc)
	return got
}

func tags(fs []rtpFrame) []byte {
	var out []byte
	for _, f := range fs {
		out = append(out, f.Opus[5])
	}
	return out
}

func allocate(t *testing.T, p *Participant, rids ...string) []voiceproto.Stream {
	t.Helper()
	var in []voiceproto.Stream
	for i, rid := range rids {
		in = append(in, voiceproto.Stream{Type: voiceproto.StreamVideo, RID: rid, Quality: 100 / (i + 1)})
	}
	out, err := p.AllocateVideo(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range out {
		if s.SSRC == 0 || s.RTXSSRC != s.SSRC+1 || s.Active || s.RID != rids[i] || p.srv.participant(s.SSRC) != p || p.srv.participant(s.RTXSSRC) != p {
			t.Fatalf("allocated %+v", s)
		}
	}
	if _, err := p.AllocateVideo(in); err == nil {
		t.Fatal("a second AllocateVideo succeeded")
	}
	return out
}

func activate(p *Participant, streams []voiceproto.Stream, on ...bool) {
	st := append([]voiceproto.Stream(nil), streams...)
	for i := range st {
		st[i].Active = on[i]
	}
	p.SetVideo(st)
}

// TestVideoOneLayer: a sender's video reaches the other native receiver on
// its stream's SSRC with its payload type, marker and contiguous numbers,
// only once op 12 made the stream active; RTX, a wrong payload type and
// inactive streams are counted drops; Leave frees the video SSRCs.
func TestVideoOneLayer(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	st := allocate(t, a.p, "100")
	ssrc := st[0].SSRC
	a.frame(ssrc, 0, true, 1) // not active yet
	h.drops(map[DropReason]uint64{DropVideoInactive: 2})
	activate(a.p, st, true)
	a.sendVideo(st[0].RTXSSRC, 106, 9, 0, false, []byte{1, 2, 3})
	a.sendVideo(ssrc, voiceproto.PayloadTypeOpus, 9, 0, false, []byte{1, 2, 3})
	h.drops(map[DropReason]uint64{DropRTX: 1, DropVideoPayloadType: 1})
	a.frame(ssrc, 1, false, 2) // a delta frame: the receiver waits for a keyframe
	a.frame(ssrc, 2, true, 3)
	a.frame(ssrc, 3, false, 4)
	got := b.waitTag(ssrc, 4)
	if !bytes.Equal(tags(got), []byte{3, 3, 4, 4}) {
		t.Fatalf("received tags %v, want the keyframe and what follows", tags(got))
	}
	contiguous(t, got)
	for i, f := range got {
		if f.PayloadType != voiceproto.PayloadTypeVP8 || f.Marker != (i%2 == 1) || f.Timestamp != got[0].Timestamp+uint32(3000*(i/2)) {
			t.Fatalf("packet %d: %+v", i, f.Header)
		}
	}
	h.drops(map[DropReason]uint64{DropVideoLayer: 2})
	a.p.Leave()
	if h.srv.participant(ssrc) != nil || h.srv.participant(st[0].RTXSSRC) != nil {
		t.Fatal("video SSRCs still mapped after Leave")
	}
}

// TestVideoSimulcast: each receiver gets the layer its op 15 wants; a
// receiver whose want rises switches at the next keyframe of the higher
// layer, on the same outgoing SSRC with contiguous sequence numbers; a
// want of 0 stops its video at once.
func TestVideoSimulcast(t *testing.T) {
	h := newHarness(t, nil)
	a, hi, lo := h.join("r", "a", ""), h.join("r", "hi", ""), h.join("r", "lo", "")
	st := allocate(t, a.p, "100", "50")
	activate(a.p, st, true, true)
	lo.p.SetSinkWants(voiceproto.MediaSinkWants{Any: -1, BySSRC: map[uint32]int{a.p.SSRC(): 50}})
	out := st[0].SSRC
	send := func(n int, key bool, tag byte) { // one frame on each layer
		a.frame(st[0].SSRC, n, key, 0x10|tag)
		a.frame(st[1].SSRC, n, key, 0x20|tag)
	}
	send(0, true, 0)
	send(1, false, 1)
	if got := tags(hi.waitTag(out, 0x11)); !bytes.Equal(got, []byte{0x10, 0x10, 0x11, 0x11}) {
		t.Fatalf("high receiver got %x", got)
	}
	if got := tags(lo.waitTag(out, 0x21)); !bytes.Equal(got, []byte{0x20, 0x20, 0x21, 0x21}) {
		t.Fatalf("low receiver got %x", got)
	}
	lo.p.SetSinkWants(voiceproto.MediaSinkWants{Any: 100})
	send(2, false, 2) // no keyframe yet: stays low
	send(3, true, 3)  // switches here
	got := lo.waitTag(out, 0x13)
	if !bytes.Equal(tags(got), []byte{0x20, 0x20, 0x21, 0x21, 0x22, 0x22, 0x13, 0x13}) {
		t.Fatalf("switching receiver got %x", tags(got))
	}
	contiguous(t, got)
	if got[6].Timestamp <= got[5].Timestamp {
		t.Fatalf("timestamp went back at the switch: %d after %d", got[6].Timestamp, got[5].Timestamp)
	}
	hi.p.SetSinkWants(voiceproto.MediaSinkWants{Any: 0})
	send(4, false, 4)
	lo.waitTag(out, 0x14)
	if n := len(hi.framesOn(out)); n != 8 {
		t.Fatalf("receiver wanting nothing has %d packets, want the 8 from before", n)
	}
}

// TestVideoDAVE: with the room's DAVE on, a frame whose last packet lacks
// the DAVE footer is dropped there, and a receiver that cannot decrypt
// DAVE gets no video; a DAVE frame reaches the capable receiver.
func TestVideoDAVE(t *testing.T) {
	h := newHarness(t, nil)
	a, e2ee, plain := h.join("r", "a", ""), h.join("r", "e2ee", ""), h.join("r", "plain", "")
	a.p.SetRoomDAVE(true)
	e2ee.p.SetDAVECapable(true)
	st := allocate(t, a.p, "100")
	activate(a.p, st, true)
	ssrc := st[0].SSRC
	footer := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x01, 12, 0xFA, 0xFA} // tag, nonce, size, marker
	a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, 0, 0, false, vp8Packet(0, true, true, 1))
	a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, 1, 0, true, vp8Packet(0, false, false, 1)) // plain: dropped
	a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, 2, 3000, false, vp8Packet(1, true, true, 2))
	a.sendVideo(ssrc, voiceproto.PayloadTypeVP8, 3, 3000, true, append(vp8Packet(1, false, false, 2), footer...))
	got := e2ee.waitTag(ssrc, 2)
	if len(got) != 3 {
		t.Fatalf("e2ee receiver got %d packets, want 3 (the plain frame's last dropped)", len(got))
	}
	contiguous(t, got)
	// The plain receiver: the first frame's first packet (E2EE room) and
	// the second frame; the plain last packet is not_e2ee for both.
	h.drops(map[DropReason]uint64{DropNotE2EE: 2, DropE2EEToPlainReceiver: 3})
	if n := len(plain.framesOn(ssrc)); n != 0 {
		t.Fatalf("plain receiver got %d video packets", n)
	}
}

func TestIsVP8Keyframe(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		key  bool
		n    int
	}{
		{"key, 15-bit picture id", vp8Packet(300, true, true, 0), true, 4},
		{"delta", vp8Packet(300, true, false, 0), false, 4},
		{"continuation", vp8Packet(300, false, false, 0), false, 4},
		{"no X", []byte{0x10, 0x10}, true, 1},
		{"7-bit picture id, L, T", []byte{0x90, 0xE0, 0x05, 0x01, 0x40, 0x10}, true, 5},
		{"partition 1", []byte{0x11, 0x10}, false, 1},
		{"truncated", []byte{0x90, 0x80}, false, -1},
		{"descriptor only", []byte{0x10}, false, 1},
		{"empty", nil, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsVP8Keyframe(tt.p); got != tt.key {
				t.Fatalf("IsVP8Keyframe = %v, want %v", got, tt.key)
			}
			if got := VP8DescriptorLen(tt.p); got != tt.n {
				t.Fatalf("VP8DescriptorLen = %d, want %d", got, tt.n)
			}
		})
	}
}

// FuzzVP8Descriptor: the descriptor parser never panics and never reports
// more than it was given.
func FuzzVP8Descriptor(f *testing.F) {
	f.Add(vp8Packet(300, true, true, 0))
	f.Add([]byte{0x90, 0xE0, 0x05, 0x01, 0x40, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := VP8DescriptorLen(b); n > len(b) || n == 0 {
			t.Fatalf("VP8DescriptorLen = %d of %d bytes", n, len(b))
		}
		_ = IsVP8Keyframe(b)
		_ = daveFooter(b)
	})
}

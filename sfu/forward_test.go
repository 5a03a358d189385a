package sfu

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/voiceproto"
)

func TestForwardEveryModeByteForByte(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LegacyModes = true })
	modes := voiceproto.Modes(true)
	peers := make([]*peer, len(modes))
	for i, m := range modes {
		peers[i] = h.join("room", fmt.Sprintf("u%d-%s", i, m), m)
	}
	for i, sender := range peers {
		frames := ogg.SyntheticOpus(20, uint64(i))
		sender.send(seqFrom(frames, 65530, 4294967000)...) // wraps both
		for _, recv := range peers {
			if recv == sender {
				continue
			}
			got := recv.waitFrames(sender, len(frames))
			for j, f := range got {
				if !bytes.Equal(f.Opus, frames[j]) {
					t.Fatalf("%s -> %s: frame %d differs", sender.name, recv.name, j)
				}
				if f.PayloadType != voiceproto.PayloadTypeOpus || f.Marker && j > 0 {
					t.Fatalf("%s -> %s: frame %d header %+v", sender.name, recv.name, j, f.Header)
				}
			}
			for _, d := range contiguous(t, got) {
				if d != 960 {
					t.Fatalf("timestamp delta %d, want 960", d)
				}
			}
		}
	}
	if d := h.srv.Stats().Snapshot().Drops; len(d) != 0 {
		t.Fatalf("drops %v, want none", d)
	}
}

func TestSilenceSuppressionKeepsStreamContiguous(t *testing.T) {
	h := newHarness(t, nil)
	talker, marks, plain := h.join("r", "talker", ""), h.join("r", "marks", ""), h.join("r", "plain", "")
	// "marks" sends a marked packet so the server knows it accepts markers
	// (disgo drops packets whose byte 1 is not 0x78).
	marks.send(pkt{seq: 1, ts: 960, marker: true, opus: []byte{0xFC, 1, 2, 3}})
	plain.waitFrames(marks, 1)

	voice := ogg.SyntheticOpus(10, 42)
	silence := dave.OpusSilence[:]
	var frames [][]byte
	frames = append(frames, voice[:5]...)
	for range 20 {
		frames = append(frames, silence)
	}
	frames = append(frames, voice[5:]...)
	frames = append(frames, marker)
	talker.send(seqFrom(frames, 100, 48000)...)

	for _, recv := range []*peer{marks, plain} {
		got := recv.untilMarker(talker)
		if len(got) != 15 {
			t.Fatalf("%s got %d frames, want 15 (5 voice, 5 trailing silence, 5 voice)", recv.name, len(got))
		}
		deltas := contiguous(t, got)
		// After 5 forwarded silence frames, 15 were suppressed: the jump
		// carries the real elapsed time.
		if deltas[9] != 16*960 {
			t.Fatalf("%s: timestamp jump over suppressed silence %d, want %d", recv.name, deltas[9], 16*960)
		}
		resumed := got[10]
		if want := recv == marks; resumed.Marker != want {
			t.Fatalf("%s: marker on the new talkspurt = %v, want %v", recv.name, resumed.Marker, want)
		}
		if !bytes.Equal(resumed.Opus, voice[5]) {
			t.Fatalf("%s: first frame after silence differs", recv.name)
		}
	}
	h.drops(map[DropReason]uint64{DropSilence: 15 * 2})
}

func TestServerMuteAndDeafen(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c := h.join("r", "a", ""), h.join("r", "b", ""), h.join("r", "c", "")
	frames := ogg.SyntheticOpus(30, 1)
	a.send(seqFrom(frames[:10], 0, 0)...)
	b.waitFrames(a, 10)
	c.waitFrames(a, 10)

	a.p.SetServerMute(true)
	a.send(seqFrom(frames[10:20], 10, 10*960)...)
	h.drops(map[DropReason]uint64{DropMuted: 20}) // 10 packets x 2 receivers, processed
	a.p.SetServerMute(false)
	c.p.SetServerDeaf(true)
	a.send(seqFrom(frames[20:], 20, 20*960)...)
	a.send(pkt{seq: 30, ts: 30 * 960, opus: marker})
	got := b.untilMarker(a)
	if len(got) != 20 {
		t.Fatalf("b got %d frames, want 20 (10 muted ones dropped)", len(got))
	}
	deltas := contiguous(t, got)
	if deltas[9] != 11*960 {
		t.Fatalf("timestamp jump across the mute %d, want %d", deltas[9], 11*960)
	}
	if !bytes.Equal(got[10].Opus, frames[20]) {
		t.Fatal("first frame after unmute differs")
	}
	if n := len(c.frames(a)); n != 10 {
		t.Fatalf("deafened c got %d frames, want the 10 from before", n)
	}
	// 11 packets (10 + the marker) not sent to c.
	h.drops(map[DropReason]uint64{DropMuted: 20, DropDeafened: 11})
}

func TestReorderedPacketsKeepTheirNumbers(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	frames := ogg.SyntheticOpus(5, 9)
	p := seqFrom(append(frames, marker), 500, 0)
	a.send(p[0], p[1], p[3], p[2], p[4], p[4], p[5])
	got := b.untilMarker(a)
	if len(got) != 5 {
		t.Fatalf("got %d frames, want 5 (the duplicate dropped)", len(got))
	}
	order := []int{0, 1, 3, 2, 4}
	for i, f := range got {
		if !bytes.Equal(f.Opus, frames[order[i]]) {
			t.Fatalf("frame %d is not input %d", i, order[i])
		}
		if want := got[0].Seq + uint16(order[i]); f.Seq != want {
			t.Fatalf("frame %d seq %d, want %d", i, f.Seq, want)
		}
	}
	h.drops(map[DropReason]uint64{DropMunger: 1})
}

// TestOversizePayloadLeavesNoHole: a payload too large to re-seal for a
// receiver is dropped for everyone, and each receiver's munger hears of
// it, so the stream stays contiguous (it used to leave a hole).
func TestOversizePayloadLeavesNoHole(t *testing.T) {
	h := newHarness(t, nil)
	a, b, c := h.join("r", "a", ""), h.join("r", "b", ""), h.join("r", "c", "")
	big := bytes.Repeat([]byte{0xAB}, maxForwardPayload) // + 12 header bytes: over
	big[0] = 0xFC
	frames := ogg.SyntheticOpus(4, 5)
	a.send(seqFrom([][]byte{frames[0], frames[1], big, frames[2], frames[3], marker}, 7, 0)...)
	for _, recv := range []*peer{b, c} {
		got := recv.untilMarker(a)
		if len(got) != 4 {
			t.Fatalf("%s got %d frames, want 4", recv.name, len(got))
		}
		contiguous(t, got)
	}
	h.drops(map[DropReason]uint64{DropTooLarge: 2})
}

// TestDAVEEnforcement: with the room's DAVE on, only DAVE frames and the
// silence frame pass; a receiver that cannot decrypt DAVE gets none; both
// drops keep sequence numbers contiguous.
func TestDAVEEnforcement(t *testing.T) {
	h := newHarness(t, nil)
	a, e2ee, plainRx := h.join("r", "a", ""), h.join("r", "e2ee", ""), h.join("r", "plain", "")
	a.p.SetRoomDAVE(true)
	a.p.SetDAVECapable(true)
	e2ee.p.SetDAVECapable(true)
	enc := dave.NewEncryptor()
	r, err := dave.NewKeyRatchet(bytes.Repeat([]byte{3}, dave.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	enc.SetKeyRatchet(r)
	opus := ogg.SyntheticOpus(3, 8)
	var frames [][]byte
	for _, f := range opus {
		sealed, err := enc.Encrypt(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, sealed)
	}
	// DAVE, plain (dropped), DAVE, silence, DAVE, end marker (sealed too).
	end, _ := enc.Encrypt(nil, marker)
	a.send(seqFrom([][]byte{frames[0], opus[1], frames[1], dave.OpusSilence[:], frames[2], end}, 1, 0)...)
	got := e2ee.untilMarkerFunc(a, func(f rtpFrame) bool { return bytes.Equal(f.Opus, end) })
	if len(got) != 4 {
		t.Fatalf("e2ee receiver got %d frames, want 4 (the plain one dropped)", len(got))
	}
	contiguous(t, got)
	// The plain receiver gets only the silence frame, and the stream's
	// numbering does not jump when DAVE frames are held back from it.
	h.drops(map[DropReason]uint64{DropNotE2EE: 2, DropE2EEToPlainReceiver: 4})
	if got := plainRx.frames(a); len(got) != 1 || !bytes.Equal(got[0].Opus, dave.OpusSilence[:]) {
		t.Fatalf("plain receiver got %d frames, want only the silence frame", len(got))
	}
}

func TestGarbageIsDroppedAndCounted(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	ssrc := a.p.SSRC()
	hdr := make([]byte, voiceproto.FixedHeaderLen)
	voiceproto.PutFixedHeader(hdr, false, voiceproto.PayloadTypeOpus, 1, 1, ssrc)
	badTag := append(bytes.Clone(hdr), bytes.Repeat([]byte{1}, 20)...)
	voiceproto.PutFixedHeader(hdr, false, voiceproto.PayloadTypeOpus, 1, 1, 0xdeadbeef)
	unknownSSRC := append(bytes.Clone(hdr), 1, 2, 3)
	badDiscovery := voiceproto.DiscoveryRequest(ssrc)
	badDiscovery[3] = 71 // length field
	for _, d := range [][]byte{
		badTag, unknownSSRC,
		{1, 2, 3}, // unknown kind
		badDiscovery[:],
		make([]byte, voiceproto.KeepaliveLen),
		{0x80, 0xc8, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // RTCP sender report
	} {
		a.raw(d)
	}
	a.send(seqFrom([][]byte{marker}, 0, 0)...)
	b.untilMarker(a)
	h.drops(map[DropReason]uint64{DropDecrypt: 1, DropUnknownSSRC: 1, DropUnknownKind: 1, DropMalformed: 1})
	if st := h.srv.Stats().Snapshot(); st.Keepalives != 1 || st.RTCP != 1 {
		t.Fatalf("keepalives %d, rtcp %d, want 1 each", st.Keepalives, st.RTCP)
	}
}

// TestDiscoveryCannotRedirectMedia: SSRCs are announced to the room and
// discovery is not authenticated, so a spoofed discovery request must never
// decide where a client's media goes: not a speaker's (proven by
// authenticated packets), not a listener's that never sends anything
// authenticated, whether the spoof comes before or after the victim's own
// discovery. A client that declares an address discovery did not show gets
// media once it sends an authenticated packet.
func TestDiscoveryCannotRedirectMedia(t *testing.T) {
	tests := []struct {
		name string
		// join adds the victim; spoof is called at the moment under test.
		join    func(h *harness, spoof func(ssrc uint32)) *peer
		speaks  bool // the victim sends before the others speak
		answers bool // whether the attacker got a discovery answer
	}{
		{"listener, spoof after select protocol", func(h *harness, _ func(uint32)) *peer {
			return h.join("r", "victim", "")
		}, false, false},
		{"listener, spoof before its own discovery", func(h *harness, spoof func(uint32)) *peer {
			return h.joinWith("r", "victim", "", joinOpts{beforeDiscovery: spoof})
		}, false, true}, // the early spoof is answered (to the attacker), and changes nothing
		{"speaker, spoof after authenticated media", func(h *harness, _ func(uint32)) *peer {
			return h.join("r", "victim", "")
		}, true, false},
		{"declared address differs (NAT): media after it speaks", func(h *harness, _ func(uint32)) *peer {
			return h.joinWith("r", "victim", "", joinOpts{declared: "192.0.2.7:9"})
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			a := h.attacker()
			speaker := h.join("r", "speaker", "")
			victim := tt.join(h, a.spoof)
			if tt.speaks {
				victim.send(pkt{seq: 1, opus: []byte{0xFC, 1}})
				speaker.waitFrames(victim, 1)
			}
			a.spoof(victim.p.SSRC())
			h.drops(map[DropReason]uint64{DropSpoofedDiscovery: 1})
			frames := ogg.SyntheticOpus(10, 4)
			speaker.send(seqFrom(append(frames, marker), 1, 0)...)
			if got := victim.untilMarker(speaker); len(got) != len(frames) {
				t.Fatalf("victim got %d frames, want %d", len(got), len(frames))
			}
			if media, answered := a.received(); media != 0 || answered != tt.answers {
				t.Fatalf("attacker got %d media packets (want 0), discovery answered %v (want %v)", media, answered, tt.answers)
			}
		})
	}
}

// TestTamperHook: the test hook sees a copy of each forwarded payload with
// its sender's SSRC, and what it changes is what the receivers get.
func TestTamperHook(t *testing.T) {
	var seen atomic.Uint32
	h := newHarness(t, func(c *Config) {
		c.TestTamper = func(src uint32, payload []byte) {
			seen.Store(src)
			if len(payload) > 1 && payload[1] == 0xAA {
				payload[1] = 0xBB
			}
		}
	})
	a, b := h.join("r", "a", ""), h.join("r", "b", "")
	frames := [][]byte{{0xFC, 0xAA, 1, 2}, {0xFC, 0x11, 3, 4}}
	a.send(seqFrom(frames, 1, 960)...)
	got := b.waitFrames(a, 2)
	if !bytes.Equal(got[0].Opus, []byte{0xFC, 0xBB, 1, 2}) || !bytes.Equal(got[1].Opus, frames[1]) {
		t.Fatalf("b got %x %x, want the first frame changed by the hook and the second as sent", got[0].Opus, got[1].Opus)
	}
	if seen.Load() != a.p.SSRC() {
		t.Fatalf("the hook saw SSRC %d, want the sender's %d", seen.Load(), a.p.SSRC())
	}
}

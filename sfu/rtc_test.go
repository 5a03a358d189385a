package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"

	"github.com/parleyhq/parley/internal/ogg"
)

// rtpPacket builds pion RTP packets for the browser peer.
type rtpPacket struct {
	seq     uint16
	ts      uint32
	payload []byte
}

func (p rtpPacket) rtp() *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: p.seq, Timestamp: p.ts}, Payload: p.payload}
}

// TestBrowserAndNativeTalk: a browser (pion, the web dialect's fragments,
// ICE-lite, DTLS-SRTP) and a native client share a room: the browser's
// audio reaches the native client under its AEAD mode with the browser's
// room SSRC, the native client's reaches the browser over SRTP with the
// browser's payload type, both byte for byte with contiguous numbers.
func TestBrowserAndNativeTalk(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WebRTCAddr = "127.0.0.1:0" })
	native := h.join("r", "native", "")
	web := h.joinBrowser("r", "web", native.p)

	frames := ogg.SyntheticOpus(20, 3)
	web.send(append(frames, marker)...)
	got := native.untilMarker(&peer{p: web.p, name: "web"})
	if len(got) != len(frames) {
		t.Fatalf("native got %d frames from the browser, want %d", len(got), len(frames))
	}
	for i, f := range got {
		if !bytes.Equal(f.Opus, frames[i]) || f.SSRC != web.p.SSRC() || f.PayloadType != 120 {
			t.Fatalf("frame %d: %+v", i, f.Header)
		}
	}
	contiguous(t, got)

	native.send(seqFrom(append(frames, marker), 500, 9600)...)
	back := web.untilMarker(native.p)
	if len(back) != len(frames) {
		t.Fatalf("browser got %d frames from native, want %d", len(back), len(frames))
	}
	for i, f := range back {
		if !bytes.Equal(f.Opus, frames[i]) || f.PayloadType != 111 {
			t.Fatalf("frame %d: %+v", i, f.Header)
		}
	}
	contiguous(t, back)
}

// TestBrowserToBrowser: two browsers in one room hear each other, each
// with its own payload type and SRTP keys.
func TestBrowserToBrowser(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WebRTCAddr = "127.0.0.1:0" })
	a := h.joinBrowser("r", "a")
	b := h.joinBrowser("r", "b", a.p)
	frames := ogg.SyntheticOpus(15, 4)
	a.send(append(frames, marker)...)
	got := b.untilMarker(a.p)
	if len(got) != len(frames) {
		t.Fatalf("b got %d frames, want %d", len(got), len(frames))
	}
	for i, f := range got {
		if !bytes.Equal(f.Opus, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	contiguous(t, got)
	if d := h.srv.Stats().Snapshot().Drops; d["srtp"] != 0 || d["unknown_source"] != 0 {
		t.Fatalf("drops %v", d)
	}
}

package sfu

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestWebRTCBadOffers: what a browser sends in Select Protocol is checked
// before anything is set up: a malformed or oversized fragment is
// voiceproto.ErrBadSDP, no Opus is ErrNoCodec, and a server without a
// WebRTC address says so; after Close, ErrClosed.
func TestWebRTCBadOffers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WebRTCAddr = "127.0.0.1:0" })
	p, err := h.srv.Join("r", "u")
	if err != nil {
		t.Fatal(err)
	}
	good := "a=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\na=fingerprint:sha-256 " +
		strings.TrimSuffix(strings.Repeat("AB:", 32), ":") + "\na=rtpmap:111 opus/48000/2\n"
	opus := []voiceproto.Codec{{Name: "opus", Type: "audio", PayloadType: 111}}
	for name, tc := range map[string]struct {
		frag   string
		codecs []voiceproto.Codec
		want   error
	}{
		"malformed":  {"a=ice-ufrag:abcd\n", opus, voiceproto.ErrBadSDP},
		"oversized":  {good + strings.Repeat("a=x:y\n", voiceproto.MaxFragmentBytes/6), opus, voiceproto.ErrBadSDP},
		"no opus":    {strings.Replace(good, "opus", "PCMU", 1), []voiceproto.Codec{{Name: "VP8", Type: "video", PayloadType: 96}}, voiceproto.ErrNoCodec},
		"bad fp alg": {strings.Replace(good, "sha-256", "md5", 1), opus, voiceproto.ErrBadSDP},
	} {
		if _, err := p.SetWebRTCTransport(tc.frag, tc.codecs); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// After Close nothing more starts: no transport, no goroutine the
	// server would no longer wait for.
	if err := h.srv.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetWebRTCTransport(good, opus); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	off := newHarness(t, nil)
	q, _ := off.srv.Join("r", "u")
	if _, err := q.SetWebRTCTransport(good, opus); !errors.Is(err, ErrWebRTCOff) {
		t.Errorf("no WebRTC address: %v, want ErrWebRTCOff", err)
	}
}

// TestWebRTCBadPackets: what arrives on the browsers' socket from the
// wrong place or in the wrong shape is dropped and counted by reason, and
// a keyed browser's media keeps flowing: STUN for an unknown ufrag and
// DTLS from an address no check came from reach no agent; SRTP from an
// unknown address, SRTP and SRTCP that do not authenticate, and an
// unknown payload type are dropped.
func TestWebRTCBadPackets(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WebRTCAddr = "127.0.0.1:0" })
	native := h.join("r", "native", "")
	p, err := h.srv.Join("r", "web")
	if err != nil {
		t.Fatal(err)
	}
	// A browser transport keyed with a known key, bound to our socket.
	key, salt := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12)
	in, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	seal, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	conn, err := net.DialUDP("udp4", nil, h.srv.WebRTCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	from := netip.MustParseAddrPort(conn.LocalAddr().String())
	tr := &rtcTransport{p: p, hub: h.srv.rtc, opusPT: 111, in: in, cancel: func() {}}
	tr.keyed.Store(true)
	var tt transport = tr
	p.transport.Store(&tt)
	h.srv.rtc.bind(tr, netip.AddrPort{}, from)
	defer h.srv.rtc.bind(tr, from, netip.AddrPort{})

	stranger, err := net.DialUDP("udp4", nil, h.srv.WebRTCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	msg, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername("nope:nope"),
		stun.NewShortTermIntegrity("0123456789012345678901"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = stranger.Write(msg.Raw)
	_, _ = stranger.Write([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}) // a DTLS record
	_, _ = stranger.Write(append([]byte{0x80, 111}, make([]byte, 40)...))          // SRTP from nowhere
	testkit.Eventually(t, 5*time.Second, func() bool { return h.srv.Stats().WebRTCUnrouted.Load() >= 2 },
		"STUN and DTLS for no agent counted (unrouted %d)", h.srv.Stats().WebRTCUnrouted.Load())

	sealRTP := func(pt uint8, seq uint16, payload []byte) []byte {
		plain, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq,
			Timestamp: uint32(seq) * 960, SSRC: 777}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b, err := seal.EncryptRTP(nil, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	frames := ogg.SyntheticOpus(3, 1)
	for _, d := range [][]byte{
		sealRTP(0, 1, frames[0]), // a payload type the browser did not offer for Opus
		append([]byte{0x80, 111, 0, 2, 0, 0, 0, 0, 0, 0, 3, 9}, make([]byte, 30)...), // does not authenticate
		append([]byte{0x80, 200, 0, 6}, make([]byte, 40)...),                         // SRTCP that does not authenticate
		sealRTP(111, 3, frames[1]),
		sealRTP(111, 4, marker),
	} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	got := native.untilMarker(&peer{p: p, name: "web"})
	if len(got) != 1 || !bytes.Equal(got[0].Opus, frames[1]) {
		t.Fatalf("native got %d frames from the browser, want the one good one", len(got))
	}
	h.drops(map[DropReason]uint64{DropNotOpus: 1, DropSRTP: 2, DropUnknownSource: 1})
}

// TestWebRTCForgedFingerprint: a browser whose DTLS certificate is not the
// one its offer named passes ICE and fails DTLS: the failure is counted by
// stage, nothing of it is ever routed, and an honest browser and a native
// client in the same room talk on.
func TestWebRTCForgedFingerprint(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.WebRTCAddr = "127.0.0.1:0" })
	native := h.join("r", "native", "")
	forged := h.joinBrowserWith("r", "forged", browserOptions{forge: func(frag string) string {
		var b strings.Builder
		for line := range strings.Lines(frag) {
			if strings.HasPrefix(line, "a=fingerprint:sha-256 ") {
				line = "a=fingerprint:sha-256 " + strings.TrimSuffix(strings.Repeat("AB:", 32), ":") + "\n"
			}
			b.WriteString(line)
		}
		return b.String()
	}}, native.p)
	testkit.Eventually(t, 10*time.Second, func() bool { return h.srv.Stats().DTLSFailures.Load() == 1 },
		"the forged browser's DTLS failure counted (dtls %d, ice %d)",
		h.srv.Stats().DTLSFailures.Load(), h.srv.Stats().ICEFailures.Load())
	if tr, ok := forged.p.rtcTransport(); ok && tr.ready(forged.p) {
		t.Fatal("the forged browser's transport is keyed")
	}

	honest := h.joinBrowser("r", "honest", native.p)
	frames := ogg.SyntheticOpus(10, 4)
	honest.send(append(frames, marker)...)
	if got := native.untilMarker(&peer{p: honest.p, name: "honest"}); len(got) != len(frames) {
		t.Fatalf("native got %d frames from the honest browser, want %d", len(got), len(frames))
	}
	native.send(seqFrom(append(frames, marker), 100, 960)...)
	if back := honest.untilMarker(native.p); len(back) != len(frames) {
		t.Fatalf("the honest browser got %d frames from native, want %d", len(back), len(frames))
	}
	if n := len(forged.frames(native.p)); n != 0 {
		t.Errorf("the forged browser received %d frames", n)
	}
	if f := h.srv.Stats().ICEFailures.Load(); f != 0 {
		t.Errorf("%d ICE failures, want 0 (the forged browser passed ICE)", f)
	}
}

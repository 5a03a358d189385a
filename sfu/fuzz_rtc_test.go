package sfu

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// rtcFuzz is a WebRTC-enabled server (not started: no reader goroutine,
// no RTCP goroutine) with one keyed browser transport and a reader of our
// own, so datagrams go straight into the reader's entry point and what it
// did is read from its local counters.
type rtcFuzz struct {
	srv      *Server
	r        *reader
	t        *rtcTransport
	seal     *srtp.Context // the browser's side of the uplink keys
	keyed    *net.UDPAddr  // the browser's bound address
	stranger *net.UDPAddr  // an address no transport is bound to
	valid    map[string]bool
	mk       func() *srtp.Context
}

const (
	fuzzTWCCID    = 3
	fuzzCacheSSRC = 4242 // the room SSRC of the NACK cache's entries
)

func newRTCFuzz(f *testing.F) *rtcFuzz {
	f.Helper()
	testkit.NoLeaks(f)
	srv, err := New(Config{UDPAddr: "127.0.0.1:0", WebRTCAddr: "127.0.0.1:0", Readers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			f.Errorf("close: %v", err)
		}
	})
	p, err := srv.Join("r", "web")
	if err != nil {
		f.Fatal(err)
	}
	key, salt := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 12)
	mk := func() *srtp.Context {
		c, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
		if err != nil {
			f.Fatal(err)
		}
		return c
	}
	// A sink nobody reads is where the browser "is": resends, if ever
	// flushed, go there.
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = sink.Close() })
	from := sink.LocalAddr().(*net.UDPAddr)
	tr := &rtcTransport{p: p, hub: srv.rtc, opusPT: 111, in: mk(), out: mk(), cancel: func() {}}
	tr.up.twcc, tr.up.twccID = twcc.NewRecorder(p.ssrc), fuzzTWCCID
	tr.keyed.Store(true)
	tr.remote.Store(from)
	var tt transport = tr
	p.transport.Store(&tt)
	srv.rtc.bind(tr, netip.AddrPort{}, unmap(from.AddrPort()))
	// Sealed datagrams the browser sent to it, for NACKs to name.
	tr.outMu.Lock()
	for seq := range uint16(nackCacheSize) {
		tr.noteSentLocked(fuzzCacheSSRC, seq, uint32(seq)*960, 48000, 80, bytes.Repeat([]byte{byte(seq)}, 100), time.Now())
	}
	tr.outMu.Unlock()
	r := newReader(srv, srv.socks[0], true, 0)
	r.now = time.Now()
	return &rtcFuzz{srv: srv, r: r, t: tr, seal: mk(), keyed: from,
		stranger: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}, valid: map[string]bool{}, mk: mk}
}

// sealRTP is an authentic uplink packet (kept as valid: it may be forwarded).
func (z *rtcFuzz) sealRTP(tb testing.TB, h rtp.Header, payload []byte) []byte {
	plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := z.seal.EncryptRTP(nil, plain, nil)
	if err != nil {
		tb.Fatal(err)
	}
	z.valid[string(b)] = true
	return b
}

// sealRTCP is an authentic SRTCP packet (kept as valid).
func (z *rtcFuzz) sealRTCP(tb testing.TB, pkts ...rtcp.Packet) []byte {
	plain, err := rtcp.Marshal(pkts)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := z.seal.EncryptRTCP(nil, plain, nil)
	if err != nil {
		tb.Fatal(err)
	}
	z.valid[string(b)] = true
	return b
}

type rtcCounts struct {
	drops             [numDropReasons]uint64
	in, rtcp, retrans uint64
}

func (z *rtcFuzz) counts() rtcCounts {
	return rtcCounts{drops: z.r.ls.drops, in: z.r.ls.in, rtcp: z.r.ls.rtcp, retrans: z.r.ls.retransmits}
}

// step hands one datagram to the reader and returns what it counted: the
// drops (total and by reason) and the deltas of forwarded, RTCP and
// retransmitted. Nothing queued is sent; the NACK cache is fresh again.
func (z *rtcFuzz) step(pkt []byte, from *net.UDPAddr, handle func()) (total uint64, by map[DropReason]uint64, d rtcCounts) {
	// Every datagram meets a fresh uplink (keys, replay window, stats), so
	// what it covers does not depend on the ones before: the fuzzer's
	// minimization stays quick and the sealed seeds stay authentic.
	in := z.mk()
	z.t.inMu.Lock()
	z.t.in, z.t.inHdr = in, rtp.Header{}
	z.t.inMu.Unlock()
	z.t.upMu.Lock()
	z.t.up = uplinkStats{twcc: twcc.NewRecorder(z.t.p.ssrc), twccID: fuzzTWCCID}
	z.t.upMu.Unlock()
	before := z.counts()
	z.r.now = now()
	handle()
	after := z.counts()
	by = map[DropReason]uint64{}
	for i := range after.drops {
		if n := after.drops[i] - before.drops[i]; n != 0 {
			by[DropReason(i)] = n
			total += n
		}
	}
	d = rtcCounts{in: after.in - before.in, rtcp: after.rtcp - before.rtcp, retrans: after.retrans - before.retrans}
	z.r.udp.used, z.r.rtc.used = 0, 0
	z.t.outMu.Lock()
	for i := range z.t.cache {
		z.t.cache[i].resent = 0
	}
	z.t.outMu.Unlock()
	z.t.upMu.Lock()
	if z.t.up.twcc.PacketsHeld() > 0 { // what runRTCP would do next
		_ = z.t.up.twcc.BuildFeedbackPacket()
	}
	z.t.upMu.Unlock()
	return total, by, d
}

// FuzzHandleRTC feeds arbitrary datagrams to the WebRTC socket's reader:
// from the keyed browser's address and from an unknown one, and, when the
// bytes are an RTP header, sealed with the browser's keys (an
// authenticated browser sending hostile plaintext). No panic; a datagram
// that is not authentic media is dropped and counted once, never
// forwarded, and causes no retransmission.
func FuzzHandleRTC(f *testing.F) {
	z := newRTCFuzz(f)
	ext := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, Timestamp: 960, SSRC: 777}
	if err := ext.SetExtension(fuzzTWCCID, []byte{0, 5}); err != nil {
		f.Fatal(err)
	}
	extPlain, err := ext.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	opus := append([]byte{0xFC}, bytes.Repeat([]byte{0xAB}, 40)...)
	stunMsg, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername("nope:nope"),
		stun.NewShortTermIntegrity("0123456789012345678901"), stun.Fingerprint)
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{
		z.sealRTP(f, ext, opus),
		z.sealRTP(f, rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 2, Timestamp: 1920, SSRC: 777, Marker: true}, opus),
		z.sealRTP(f, rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 3, Timestamp: 2880, SSRC: 777}, opus), // not Opus
		z.sealRTCP(f, &rtcp.ReceiverReport{SSRC: 777},
			&rtcp.TransportLayerNack{SenderSSRC: 777, MediaSSRC: fuzzCacheSSRC, Nacks: []rtcp.NackPair{{PacketID: 5, LostPackets: 0xFFFF}}}),
		// Plaintext RTP, some with the TransportCC extension (sealed by the fuzz body).
		extPlain,
		append([]byte{0x90, 111, 0, 9, 0, 0, 0x21, 0xC0, 0, 0, 3, 9, 0xBE, 0xDE, 0, 1, 0x31, 0, 7, 0}, opus...),
		append([]byte{0x90, 111, 0, 9, 0, 0, 0x21, 0xC0, 0, 0, 3, 9, 0x10, 0x00, 0, 1, 3, 2, 0, 7}, opus...), // two-byte
		append([]byte{0x80, 111, 0, 2, 0, 0, 0, 0, 0, 0, 3, 9}, make([]byte, 30)...),                         // does not authenticate
		append([]byte{0x80, 200, 0, 6}, make([]byte, 40)...),                                                 // SRTCP that does not authenticate
		stunMsg.Raw,
		{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, // a DTLS record
		{}, {0x80}, {0xFF, 0, 0},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := z.valid[string(data)]
		first := -1
		if len(data) > 0 {
			first = int(data[0])
		}
		stunDTLS := first >= 0 && (first < 4 || first >= 20 && first < 64)
		media := first >= 128 && first < 192
		check := func(from *net.UDPAddr, pkt []byte, authentic bool) {
			total, by, d := z.step(pkt, from, func() { z.r.handleRTC(pkt, from) })
			switch {
			case authentic && d.in+d.rtcp == 0 && by[DropNotOpus] == 0:
				t.Fatalf("from %v: an authentic seed was not forwarded, read as RTCP or refused as not Opus (drops %v)", from, by)
			case d.in > 1, d.in == 1 && !authentic:
				t.Fatalf("from %v: forwarded %d (drops %v)", from, d.in, by)
			case d.retrans != 0 && !authentic:
				t.Fatalf("from %v: %d retransmits for a datagram that is not authentic", from, d.retrans)
			case stunDTLS:
				if total > 1 || total == 1 && by[DropICEQueue] != 1 {
					t.Fatalf("from %v: STUN/DTLS drops %v", from, by)
				}
			case from == z.stranger && media:
				if total != 1 || by[DropUnknownSource] != 1 {
					t.Fatalf("from an unknown address: drops %v, want one unknown-source", by)
				}
			case !media:
				if total != 1 || by[DropUnknownKind] != 1 {
					t.Fatalf("first byte %d: drops %v, want one unknown-kind", first, by)
				}
			case voiceproto.IsMuxedRTCP(pkt):
				if d.rtcp != 1 || total > 1 || total == 0 && !authentic {
					t.Fatalf("SRTCP: rtcp %d, drops %v", d.rtcp, by)
				}
			case d.in == 0 && total != 1:
				t.Fatalf("SRTP not forwarded: drops %v, want exactly one", by)
			}
		}
		check(z.keyed, data, valid)
		check(z.stranger, data, false)

		// The same bytes as the plaintext of an authenticated browser.
		if !media || voiceproto.IsMuxedRTCP(data) {
			return
		}
		var h rtp.Header
		if _, err := h.Unmarshal(data); err != nil {
			return
		}
		sealed, err := z.mk().EncryptRTP(nil, data, nil)
		if err != nil {
			return
		}
		total, by, d := z.step(sealed, z.keyed, func() { z.r.handleRTC(sealed, z.keyed) })
		if d.in == 1 {
			ph, err := voiceproto.ParseHeader(data)
			if err != nil || ph.PayloadType != 111 {
				t.Fatalf("forwarded a packet that does not parse as Opus (%v, pt %d)", err, ph.PayloadType)
			}
		} else if total != 1 || d.in != 0 {
			t.Fatalf("sealed plaintext: forwarded %d, drops %v", d.in, by)
		}
		if d.retrans != 0 {
			t.Fatalf("%d retransmits for RTP", d.retrans)
		}
	})
}

// FuzzHandleRTCP feeds arbitrary RTCP plaintext, sealed with the keyed
// browser's keys, to the transport's RTCP handler: no panic; what does not
// parse is dropped as malformed; NACKs resend exactly the cached datagrams
// they name, each at most maxRetransmits times.
func FuzzHandleRTCP(f *testing.F) {
	z := newRTCFuzz(f)
	marshal := func(pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	nack := &rtcp.TransportLayerNack{SenderSSRC: 777, MediaSSRC: fuzzCacheSSRC,
		Nacks: []rtcp.NackPair{{PacketID: 5, LostPackets: 0b101}, {PacketID: 5}, {PacketID: 5}, {PacketID: 5}, {PacketID: 120, LostPackets: 0xFFFF}}}
	for _, s := range [][]byte{
		marshal(nack),
		marshal(&rtcp.ReceiverReport{SSRC: 777}, nack),
		marshal(&rtcp.SenderReport{SSRC: 777, NTPTime: 1 << 40, RTPTime: 960, PacketCount: 1, OctetCount: 80}),
		marshal(&rtcp.TransportLayerNack{SenderSSRC: 777, MediaSSRC: 99, Nacks: []rtcp.NackPair{{PacketID: 1}}}), // not cached
		marshal(&rtcp.PictureLossIndication{SenderSSRC: 777, MediaSSRC: 1}, &rtcp.Goodbye{Sources: []uint32{777}}),
		{0x81, 205, 0, 1, 0, 0, 3, 9}, // a NACK cut short
		{0x80, 201, 0, 1, 0, 0, 3, 9},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sealed, err := z.mk().EncryptRTCP(nil, data, nil)
		if err != nil {
			return // nothing a browser could seal
		}
		pkts, perr := rtcp.Unmarshal(data)
		// The retransmits the NACKs call for: cached (ssrc, seq), at most
		// maxRetransmits each.
		want := uint64(0)
		if perr == nil {
			per := map[uint16]int{}
			for _, p := range pkts {
				if n, ok := p.(*rtcp.TransportLayerNack); ok && n.MediaSSRC == fuzzCacheSSRC {
					for _, pair := range n.Nacks {
						for _, seq := range pair.PacketList() {
							if seq < nackCacheSize && per[seq] < maxRetransmits {
								per[seq]++
								want++
							}
						}
					}
				}
			}
		}
		queued := 0
		total, by, d := z.step(sealed, z.keyed, func() {
			z.r.handleRTCP(z.t, sealed)
			queued = z.r.rtc.used
		})
		if d.rtcp != 1 {
			t.Fatalf("rtcp counted %d, want 1", d.rtcp)
		}
		if perr != nil {
			if total != 1 || by[DropMalformed] != 1 || d.retrans != 0 {
				t.Fatalf("unparsable RTCP (%v): drops %v, retransmits %d", perr, by, d.retrans)
			}
			return
		}
		if total != 0 {
			t.Fatalf("RTCP that parses: drops %v", by)
		}
		if d.retrans != want || uint64(queued) != want {
			t.Fatalf("retransmits %d, queued %d, want %d", d.retrans, queued, want)
		}
	})
}

package sfu

import (
	"net"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/parleyhq/parley/sfu/simulcast"
	"github.com/parleyhq/parley/voiceproto"
)

// maxDatagram bounds what a reader accepts; larger datagrams are cut by
// the kernel and then fail authentication.
const maxDatagram = 1500

// reader is one socket reader goroutine with its own buffers: a receive
// batch, a decryption scratch buffer, and an outgoing batch it flushes
// after each receive batch. No goroutine per packet, no lock held while
// sending.
type reader struct {
	srv  *Server
	sock *socket
	// webrtc: the socket is the browsers' (ICE, DTLS, SRTP), not native.
	webrtc bool
	in     []ipv4.Message
	plain  []byte
	vbuf   []byte // a forwarded video payload rewritten for one WebRTC receiver
	// vpkt and vres are forwardVideo's packet and per-receiver result:
	// here, not on its stack, because they go to a videoTransport through
	// the interface and would escape (two allocations per packet).
	vpkt videoPacket
	vres simulcast.Result
	// udp is the outgoing batch on the native socket, rtc on the WebRTC
	// one (nil without WebRTC): a reader of either socket sends to both
	// kinds of receivers.
	udp *sender
	rtc *sender
	ls  localStats
	// now is when the current receive batch was read (arrival time).
	now time.Time
}

// newReader is the i-th reader of the native (webrtc false) or WebRTC
// socket.
func newReader(srv *Server, sock *socket, webrtc bool, i int) *reader {
	r := &reader{srv: srv, sock: sock, webrtc: webrtc, in: make([]ipv4.Message, srv.cfg.BatchSize), plain: make([]byte, 0, maxDatagram)}
	for i := range r.in {
		r.in[i].Buffers = [][]byte{make([]byte, maxDatagram)}
		r.in[i].OOB = make([]byte, 64)
	}
	r.udp = newSender(srv.socks[i%len(srv.socks)], 2048)
	if srv.rtc != nil {
		r.rtc = newSender(srv.rtc.socks[i%len(srv.rtc.socks)], 2048)
	}
	return r
}

func (r *reader) run() {
	for {
		k, err := r.sock.bc.ReadBatch(r.in, 0)
		if err != nil {
			if isClosedErr(err) {
				return
			}
			r.srv.log.Warn("udp read", "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		t0 := now()
		r.now = t0
		if k > 0 {
			r.countOverflows(&r.in[k-1])
		}
		for i := 0; i < k; i++ {
			m := &r.in[i]
			from, _ := m.Addr.(*net.UDPAddr)
			if from == nil {
				continue
			}
			if r.webrtc {
				r.handleRTC(m.Buffers[0][:m.N], from)
			} else {
				r.handle(m.Buffers[0][:m.N], from)
			}
		}
		if sent := r.flush(); sent > 0 {
			r.srv.metrics.latency.Observe(now().Sub(t0).Seconds())
		}
		r.ls.flush(&r.srv.stats)
	}
}

// countOverflows adds the kernel's receive-queue drops since the last
// batch (SO_RXQ_OVFL is cumulative per socket, little-endian host order).
func (r *reader) countOverflows(m *ipv4.Message) {
	n, ok := rxqOverflow(m.OOB[:m.NN])
	if !ok || n == r.sock.overflows {
		return
	}
	r.ls.drops[DropSocketOverflow] += uint64(n - r.sock.overflows)
	r.sock.overflows = n
}

// handle classifies one datagram by shape (voice-protocol.md §3).
func (r *reader) handle(pkt []byte, from *net.UDPAddr) {
	switch voiceproto.Classify(pkt) {
	case voiceproto.KindDiscovery:
		r.discovery(pkt, from)
	case voiceproto.KindKeepalive:
		r.ls.keepalives++
	case voiceproto.KindRTCP:
		r.nativeRTCP(pkt, from) // video feedback (video_rtcp.go); the rest tolerated
	case voiceproto.KindRTP:
		r.rtp(pkt, from)
	default:
		r.ls.drops[DropUnknownKind]++
	}
}

// discovery answers an IP discovery request with the address the request
// came from (voice-protocol.md §3.1). It teaches the node where to send a
// listen-only client's media, but never overrides an address that an
// authenticated packet has proven.
func (r *reader) discovery(pkt []byte, from *net.UDPAddr) {
	ssrc, err := voiceproto.ParseDiscoveryRequest(pkt)
	if err != nil {
		r.ls.drops[DropMalformed]++
		return
	}
	p := r.srv.participant(ssrc)
	if p == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	if !p.acceptDiscovery(from.AddrPort()) {
		r.ls.drops[DropSpoofedDiscovery]++
		return
	}
	resp := voiceproto.DiscoveryResponse(ssrc, from.AddrPort())
	if _, err := r.sock.conn.WriteToUDP(resp[:], from); err != nil {
		r.ls.drops[DropSendError]++
	}
}

// rtp authenticates a native media packet and fans it out.
func (r *reader) rtp(pkt []byte, from *net.UDPAddr) {
	ssrc, ok := voiceproto.PeekSSRC(pkt)
	if !ok {
		r.ls.drops[DropMalformed]++
		return
	}
	p := r.srv.participant(ssrc)
	if p == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	t, ok := p.udpTransport()
	if !ok {
		r.ls.drops[DropNoTransport]++
		return
	}
	// Nothing past the clear header is read until the packet decrypts.
	plain, err := t.cipher.Open(r.plain[:0], pkt)
	if err != nil {
		r.ls.drops[DropDecrypt]++
		return
	}
	h, err := voiceproto.ParseHeader(plain)
	if err != nil {
		r.ls.drops[DropMalformed]++
		return
	}
	if ssrc != p.ssrc { // one of p's video streams (video.go)
		p.setAddr(from)
		r.video(p, &h, plain[h.PayloadStart:h.PayloadEnd])
		return
	}
	if h.PayloadType != voiceproto.PayloadTypeOpus {
		r.ls.drops[DropNotOpus]++
		return
	}
	p.setAddr(from)
	if h.Marker && !p.marker.Load() {
		p.marker.Store(true)
	}
	r.fanOut(p, &h, plain[h.PayloadStart:h.PayloadEnd])
}

// fanOut forwards one authenticated, parsed packet of p, whatever its
// transport, to the room.
func (r *reader) fanOut(p *Participant, h *voiceproto.Header, payload []byte) {
	r.ls.in++
	members := p.room.snapshot()
	if r.free() < len(members) {
		r.flush() // before taking the source's lock
	}
	p.forward(r, members, h, payload)
	if r.queued() >= flushAt {
		// Send what is ready rather than holding it for the whole receive
		// batch: a full batch fanned out is hundreds of datagrams.
		r.flush()
	}
}

// free is how many datagrams every outgoing batch can still take.
func (r *reader) free() int {
	if r.rtc != nil {
		return min(r.udp.free(), r.rtc.free())
	}
	return r.udp.free()
}

// queued is how many datagrams wait in the outgoing batches.
func (r *reader) queued() int {
	if r.rtc != nil {
		return r.udp.used + r.rtc.used
	}
	return r.udp.used
}

// flush sends the outgoing batches and returns how many datagrams left.
func (r *reader) flush() int {
	n := r.udp.flush(&r.ls)
	if r.rtc != nil {
		n += r.rtc.flush(&r.ls)
	}
	return n
}

// flushAt is how many queued datagrams trigger a send mid-batch.
const flushAt = 64

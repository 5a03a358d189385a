package sfu

import (
	"net"

	"github.com/parleyhq/parley/voiceproto"
)

// handleRTC demultiplexes a datagram of the WebRTC socket by its first
// byte (RFC 7983): STUN and DTLS go to pion, SRTP and SRTCP are opened
// here and fanned out like native media.
func (r *reader) handleRTC(pkt []byte, from *net.UDPAddr) {
	if len(pkt) == 0 {
		r.ls.drops[DropUnknownKind]++
		return
	}
	switch b := pkt[0]; {
	case b < 4, b >= 20 && b < 64: // STUN, DTLS
		if !r.srv.rtc.pconn.push(pkt, from) {
			r.ls.drops[DropICEQueue]++
		}
	case b >= 128 && b < 192: // RTP, RTCP
		r.srtp(pkt, from)
	default:
		r.ls.drops[DropUnknownKind]++
	}
}

// srtp opens a browser's media packet and fans it out.
func (r *reader) srtp(pkt []byte, from *net.UDPAddr) {
	t := r.srv.rtc.transport(unmap(from.AddrPort()))
	if t == nil {
		r.ls.drops[DropUnknownSource]++
		return
	}
	p := t.p
	if voiceproto.IsMuxedRTCP(pkt) {
		if t.keyed.Load() {
			r.handleRTCP(t, pkt)
		} else {
			r.ls.drops[DropSRTP]++
		}
		return
	}
	plain, err := t.openRTP(r.plain[:0], pkt)
	if err != nil {
		r.ls.drops[DropSRTP]++
		return
	}
	h, err := voiceproto.ParseHeader(plain)
	if err != nil {
		r.ls.drops[DropMalformed]++
		return
	}
	if h.PayloadType != t.opusPT {
		if t.video.takes(h.PayloadType) {
			r.rtcVideo(t, &h, plain) // the camera (rtc_video.go)
			return
		}
		r.ls.drops[DropNotOpus]++
		return
	}
	t.upMu.Lock()
	t.up.note(&h, plain, r.now)
	t.upMu.Unlock()
	if h.Marker && !p.marker.Load() {
		p.marker.Store(true)
	}
	r.fanOut(p, &h, plain[h.PayloadStart:h.PayloadEnd])
}

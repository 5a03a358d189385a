package sfu

import (
	"errors"
	"net"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/sfu/packetcache"
	"github.com/parleyhq/parley/sfu/simulcast"
	"github.com/parleyhq/parley/voiceproto"
)

// Native RTCP (voiceproto.Cipher.OpenRTCP: the desktop client's sealed
// RTCP on the voice socket). What the SFU reads of it:
//
//   - a sender report (RFC 3550 §6.4.1) about one of the sender's video
//     streams: the layer's NTP/RTP reference for every receiver's
//     Forwarder (layer-switch timestamps);
//   - a receiver report from a receiver: its loss on the video it gets,
//     for its bandwidth estimate (video_bwe.go);
//   - a PLI (RFC 4585 §6.3.1) from a receiver about a sender's outgoing
//     video SSRC: a keyframe request for the layer it gets, passed on;
//   - a NACK (RFC 4585 §6.2.1) from a receiver about a sender's outgoing
//     video SSRC, in outgoing SNs: each mapped back through the receiver's
//     sent map to the source packet and answered from the layer's cache on
//     the RTX SSRC.
//
// The sender of RTCP is the SSRC in its clear header (any of the
// participant's SSRCs); what does not open under that participant's key
// is counted as rtcp (tolerated) and dropped as undecryptable. RTCP is
// never forwarded. The SFU sends senders PLIs, coalesced per layer
// (pliInterval), and receivers RTX; no reports of its own yet, so round
// trip times stay unknown (the Forwarder and RTX use their defaults).

// pliInterval is the least time between keyframe requests sent to one
// sender for one layer, whichever receivers ask.
const pliInterval = 200 * time.Millisecond

// nativeRTCP handles one sealed RTCP datagram on the native socket.
func (r *reader) nativeRTCP(pkt []byte, from *net.UDPAddr) {
	r.ls.rtcp++
	ssrc, _ := voiceproto.PeekRTCPSender(pkt)
	p := r.srv.participant(ssrc)
	if p == nil {
		return // the desktop client's RTCP about SSRCs Parley never gave out: tolerated
	}
	t, ok := p.udpTransport()
	if !ok {
		return
	}
	plain, err := t.cipher.OpenRTCP(r.plain[:0], pkt)
	if err != nil {
		r.ls.drops[DropDecrypt]++
		return
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		r.srv.vstats.RTCPMalformed.Add(1)
		return
	}
	p.setAddr(from)
	for _, x := range pkts {
		switch x := x.(type) {
		case *rtcp.SenderReport:
			p.videoSenderReport(x)
			r.handleReports(p, x.Reports)
		case *rtcp.ReceiverReport:
			r.handleReports(p, x.Reports)
		case *rtcp.PictureLossIndication:
			r.srv.vstats.PLIIn.Add(1)
			r.receiverKeyframeRequest(p, x.MediaSSRC)
		case *rtcp.FullIntraRequest:
			r.srv.vstats.PLIIn.Add(1)
			r.receiverKeyframeRequest(p, x.MediaSSRC)
		case *rtcp.TransportLayerNack:
			r.nack(p, x)
		}
	}
}

// videoSenderReport records a sender report about one of p's streams.
func (p *Participant) videoSenderReport(sr *rtcp.SenderReport) {
	st := p.video.Load()
	if st == nil {
		return
	}
	i, rtx := st.stream(sr.SSRC)
	if i < 0 || rtx {
		return
	}
	p.srv.vstats.SenderReports.Add(1)
	f := &p.vfwd
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sr[i] = senderReport{ok: true, ntp: sr.NTPTime, rtp: sr.RTPTime}
	for _, d := range f.downs {
		_ = d.fw.SetSenderReport(i, sr.NTPTime, sr.RTPTime)
	}
}

// videoSource returns the participant whose outgoing video SSRC (its
// first stream's) is ssrc.
func (r *reader) videoSource(ssrc uint32) (*Participant, *videoState) {
	p := r.srv.participant(ssrc)
	if p == nil {
		return nil, nil
	}
	st := p.video.Load()
	if st == nil || len(st.streams) == 0 || st.streams[0].SSRC != ssrc {
		return nil, nil
	}
	return p, st
}

// receiverKeyframeRequest passes receiver q's PLI about the sender's
// outgoing SSRC on as a keyframe request for the layer q gets.
func (r *reader) receiverKeyframeRequest(q *Participant, media uint32) {
	p, st := r.videoSource(media)
	if p == nil || p == q {
		return
	}
	f := &p.vfwd
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.downs[q]
	if d == nil {
		return
	}
	layer := d.fw.Current()
	if t := d.fw.Target(); t >= 0 {
		layer = t
	}
	if layer >= 0 {
		p.requestKeyframe(r, layer, st)
	}
}

// requestKeyframe sends p a PLI for its stream layer unless one went out
// less than pliInterval ago. The caller holds p.vfwd.mu.
func (p *Participant) requestKeyframe(r *reader, layer int, st *videoState) {
	f := &p.vfwd
	if layer >= len(st.streams) || r.now.Sub(f.pliAt[layer]) < pliInterval {
		p.srv.vstats.PLICoalesced.Add(1)
		return
	}
	t, ok := p.udpTransport()
	if !ok {
		// A browser sender: a PLI for each of its layers (rtc_video.go).
		r.requestKeyframe(p)
		return
	}
	b, err := (&rtcp.PictureLossIndication{SenderSSRC: 0, MediaSSRC: st.streams[layer].SSRC}).Marshal()
	if err != nil {
		return
	}
	if r.udp.free() == 0 {
		r.flush()
	}
	if t.sendRTCP(r, p, b) {
		f.pliAt[layer] = r.now
		p.srv.vstats.PLIOut.Add(1)
	}
}

// nack answers receiver q's NACK from the source's cache on RTX.
func (r *reader) nack(q *Participant, n *rtcp.TransportLayerNack) {
	p, st := r.videoSource(n.MediaSSRC)
	if p == nil || p == q {
		return
	}
	qt, ok := q.udpTransport()
	if !ok {
		return
	}
	f := &p.vfwd
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.downs[q]
	if d == nil {
		return
	}
	for _, pair := range n.Nacks {
		pair.Range(func(seq uint16) bool {
			r.srv.vstats.NACKed.Add(1)
			e, ok := d.sent.get(seq)
			if !ok || f.cache[e.layer] == nil {
				r.srv.vstats.RTXMissed.Add(1)
				return true
			}
			if r.udp.free() == 0 {
				r.flush()
			}
			reason, err := qt.sendRTX(r, q, d.rtx, f.cache[e.layer], &e, seq, st.streams[0].RTX())
			switch {
			case errors.Is(err, packetcache.ErrThrottled), errors.Is(err, packetcache.ErrExhausted):
				r.srv.vstats.RTXThrottled.Add(1)
			case err != nil:
				r.srv.vstats.RTXMissed.Add(1)
			case reason != numDropReasons:
				r.ls.drops[reason]++
			default:
				r.ls.retransmits++
				r.srv.vstats.RTXSent.Add(1)
			}
			return true
		})
	}
}

// sentEntry is what a receiver was sent as one outgoing SN.
type sentEntry struct {
	valid       bool
	vp8         bool
	layer       uint8
	pt          uint8
	tl0, keyIdx uint8
	seq, srcSeq uint16 // outgoing and source SNs
	pid         uint16
	ts          uint32 // outgoing timestamp
}

// sentMapSize bounds how far back a NACK is answered (in outgoing SNs);
// the layer caches hold videoCacheSize packets each.
const sentMapSize = 512

// sentMap maps a receiver's recent outgoing SNs to their source packets.
type sentMap struct {
	e [sentMapSize]sentEntry
}

func (m *sentMap) put(res simulcast.Result, layer int, srcSeq uint16, pt uint8) {
	m.e[res.Seq%sentMapSize] = sentEntry{valid: true, vp8: res.VP8, layer: uint8(layer), pt: pt,
		tl0: res.TL0PICIDX, keyIdx: res.KeyIdx, seq: res.Seq, srcSeq: srcSeq, pid: res.PictureID, ts: res.TS}
}

func (m *sentMap) get(seq uint16) (sentEntry, bool) {
	e := m.e[seq%sentMapSize]
	return e, e.valid && e.seq == seq
}

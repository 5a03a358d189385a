package sfu

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/voiceproto"
)

// RTCP towards and from browsers (a browser's stack expects it; native
// clients neither send nor read it):
//
//   - every second, a receiver report on the browser's uplink (loss,
//     jitter, the last sender report's timing) and a sender report per
//     room SSRC forwarded to it (packet and octet counts, the RTP/NTP
//     mapping of its munged timestamps);
//   - every 100 ms, transport-wide congestion feedback on the uplink
//     (when the browser sends the TransportCC extension), so its send-side
//     bandwidth estimate works;
//   - a NACK from the browser is answered from a small cache of the sealed
//     datagrams last sent to it, by room SSRC and sequence number.
//
// Reports are built by one goroutine per server (runRTCP), never per
// packet; the per-packet work is a few counters under the transport's
// locks. Malformed RTCP is dropped and counted, never fatal.

const (
	rtcpInterval = time.Second
	twccInterval = 100 * time.Millisecond
	// nackCacheSize sealed datagrams are kept per browser for NACKs, each
	// up to nackCacheBytes (audio packets are ~100 bytes).
	nackCacheSize  = 128
	nackCacheBytes = 320
)

// uplinkStats is what a receiver report says about the browser's stream
// (RFC 3550 §6.4.1, A.3, A.8). Guarded by rtcTransport.upMu.
type uplinkStats struct {
	ssrc                   uint32
	started                bool
	unwrap                 rtpmunger.Unwrapper
	base, max              uint64 // extended sequence numbers (cycle 1 is the first)
	received               uint64
	expectedPrior, recvPri uint64
	jitter                 float64 // in RTP units
	lastTransit            int64
	lastSR                 uint32 // middle 32 bits of its last SR's NTP time
	lastSRAt               time.Time
	twcc                   *twcc.Recorder
	twccID                 uint8
}

// note accounts one uplink packet that arrived at t.
func (u *uplinkStats) note(h *voiceproto.Header, pkt []byte, at time.Time) {
	if !u.started || h.SSRC != u.ssrc {
		*u = uplinkStats{ssrc: h.SSRC, started: true, twcc: u.twcc, twccID: u.twccID}
	}
	seq, _ := u.unwrap.Unwrap(h.Seq, h.Timestamp)
	if u.received == 0 || seq < u.base { // the first packet, or one from before it
		u.base = seq
	}
	u.max = max(u.max, seq)
	u.received++
	arrival := at.UnixMicro() * 48 / 1000 // 48 kHz units
	transit := arrival - int64(h.Timestamp)
	if u.received > 1 {
		d := transit - u.lastTransit
		if d < 0 {
			d = -d
		}
		u.jitter += (float64(d) - u.jitter) / 16
	}
	u.lastTransit = transit
	u.recordTWCC(h, pkt, at)
}

// recordTWCC records a packet's transport-wide sequence number (every
// packet of the browser's uplink, audio or video, counts).
func (u *uplinkStats) recordTWCC(h *voiceproto.Header, pkt []byte, at time.Time) {
	if u.twcc != nil {
		if v, ok := voiceproto.Extension(pkt, h, u.twccID); ok && len(v) >= 2 {
			u.twcc.Record(h.SSRC, binary.BigEndian.Uint16(v), at.UnixMicro())
		}
	}
}

// report is the reception report block on the uplink, and resets the
// interval counters (RFC 3550 A.3).
func (u *uplinkStats) report(now time.Time) (rtcp.ReceptionReport, bool) {
	if !u.started {
		return rtcp.ReceptionReport{}, false
	}
	expected := u.max - u.base + 1
	lost := int64(expected) - int64(u.received)
	expInt, recInt := expected-u.expectedPrior, u.received-u.recvPri
	u.expectedPrior, u.recvPri = expected, u.received
	var fraction uint8
	if lostInt := int64(expInt) - int64(recInt); expInt > 0 && lostInt > 0 {
		fraction = uint8(lostInt << 8 / int64(expInt))
	}
	rr := rtcp.ReceptionReport{SSRC: u.ssrc, FractionLost: fraction, TotalLost: uint32(max(0, min(lost, 1<<23-1))),
		LastSequenceNumber: uint32(u.max - 1<<16), // the wire counts cycles from 0, the Unwrapper from 1
		Jitter:             uint32(u.jitter), LastSenderReport: u.lastSR}
	if !u.lastSRAt.IsZero() {
		rr.Delay = uint32(now.Sub(u.lastSRAt).Seconds() * 65536)
	}
	return rr, true
}

// downStats is what a sender report says about one forwarded room SSRC.
// Guarded by rtcTransport.outMu.
type downStats struct {
	packets, octets uint32
	lastTS          uint32
	clock           uint32 // RTP clock rate
	lastAt          time.Time
}

// nackEntry is one sealed datagram kept for a NACK.
type nackEntry struct {
	ssrc   uint32
	seq    uint16
	resent uint8 // times it was sent again (at most maxRetransmits)
	n      int
	b      [nackCacheBytes]byte
}

// maxRetransmits bounds how often one datagram is sent again, however
// often a NACK lists it.
const maxRetransmits = 3

// forgetSource drops the sender-report state of a participant that left
// (its audio SSRC and its video streams'), so reports stop naming them.
func (t *rtcTransport) forgetSource(p *Participant) {
	t.outMu.Lock()
	defer t.outMu.Unlock()
	delete(t.down, p.ssrc)
	if st := p.video.Load(); st != nil {
		for _, s := range st.streams {
			delete(t.down, s.SSRC)
		}
	}
}

// noteSent accounts a sealed datagram sent to the browser and keeps it
// for NACKs; the caller holds outMu.
func (t *rtcTransport) noteSentLocked(ssrc uint32, seq uint16, ts, clock uint32, payload int, sealed []byte, at time.Time) {
	d := t.down[ssrc]
	if d == nil {
		if t.down == nil {
			t.down = map[uint32]*downStats{}
		}
		d = &downStats{}
		t.down[ssrc] = d
	}
	d.packets++
	d.octets += uint32(payload)
	d.lastTS, d.lastAt, d.clock = ts, at, clock
	if clock == voiceproto.VideoClockRate {
		t.cacheVideoLocked(ssrc, seq, sealed)
	} else if len(sealed) <= nackCacheBytes {
		e := &t.cache[seq%nackCacheSize]
		e.ssrc, e.seq, e.resent, e.n = ssrc, seq, 0, copy(e.b[:], sealed)
	}
}

// handleRTCP opens and acts on one SRTCP packet from the browser.
func (r *reader) handleRTCP(t *rtcTransport, pkt []byte) {
	r.ls.rtcp++
	t.inMu.Lock()
	plain, err := t.in.DecryptRTCP(r.plain[:0], pkt, nil)
	t.inMu.Unlock()
	if err != nil {
		r.ls.drops[DropSRTP]++
		return
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		r.ls.drops[DropMalformed]++
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			t.upMu.Lock()
			if p.SSRC == t.up.ssrc {
				t.up.lastSR, t.up.lastSRAt = uint32(p.NTPTime>>16), r.now
			}
			t.upMu.Unlock()
		case *rtcp.PictureLossIndication:
			r.onKeyframeRequest(p.MediaSSRC)
		case *rtcp.FullIntraRequest:
			for _, e := range p.FIR {
				r.onKeyframeRequest(e.SSRC)
			}
		case *rtcp.TransportLayerNack:
			for _, pair := range p.Nacks {
				for _, seq := range pair.PacketList() {
					r.resend(t, p.MediaSSRC, seq)
				}
			}
		}
	}
}

// resend queues the cached datagram of (ssrc, seq) to the browser again,
// at most maxRetransmits times.
func (r *reader) resend(t *rtcTransport, ssrc uint32, seq uint16) {
	to := t.remote.Load()
	if to == nil {
		return
	}
	if r.rtc.free() == 0 {
		r.flush() // before the lock: a full socket must not stall the senders to t
	}
	t.outMu.Lock()
	defer t.outMu.Unlock()
	e := &t.cache[seq%nackCacheSize]
	if e.n == 0 || e.ssrc != ssrc || e.seq != seq || e.resent >= maxRetransmits {
		if b := t.cachedVideoLocked(ssrc, seq); b != nil {
			r.rtc.commit(append(r.rtc.slot(), b...), to)
			r.ls.retransmits++
		}
		return
	}
	e.resent++
	r.rtc.commit(append(r.rtc.slot(), e.b[:e.n]...), to)
	r.ls.retransmits++
}

// runRTCP sends every browser its reports and congestion feedback until
// ctx ends. It is the server's one RTCP goroutine.
func (h *rtcHub) runRTCP(ctx context.Context) {
	tick := time.NewTicker(twccInterval)
	defer tick.Stop()
	n := 0
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		reports := n%int(rtcpInterval/twccInterval) == 0
		at := now()
		for _, t := range *h.byAddr.Load() { // each transport once: bound at one address
			if t.ready(t.p) {
				buf = t.sendRTCP(h, buf, at, reports)
			}
		}
	}
}

// sendRTCP builds this browser's compound packet (reports every second,
// TWCC feedback each time) and sends it sealed; buf is scratch.
func (t *rtcTransport) sendRTCP(h *rtcHub, buf []byte, now time.Time, reports bool) []byte {
	var pkts []rtcp.Packet
	t.upMu.Lock()
	if reports {
		rr := &rtcp.ReceiverReport{SSRC: t.p.ssrc}
		if rb, ok := t.up.report(now); ok {
			rr.Reports = []rtcp.ReceptionReport{rb}
		}
		pkts = append(pkts, rr)
	}
	if t.up.twcc != nil && t.up.twcc.PacketsHeld() > 0 {
		pkts = append(pkts, t.up.twcc.BuildFeedbackPacket()...)
	}
	t.upMu.Unlock()
	to := t.remote.Load()
	t.outMu.Lock()
	defer t.outMu.Unlock()
	if reports {
		ntp := ntpTime(now)
		for ssrc, d := range t.down {
			if d.packets == 0 {
				continue
			}
			rtpNow := d.lastTS + uint32(now.Sub(d.lastAt).Seconds()*float64(d.clock))
			pkts = append(pkts, &rtcp.SenderReport{SSRC: ssrc, NTPTime: ntp, RTPTime: rtpNow,
				PacketCount: d.packets, OctetCount: d.octets})
		}
	}
	if len(pkts) == 0 || to == nil {
		return buf
	}
	plain, err := rtcp.Marshal(pkts)
	if err != nil {
		return buf
	}
	sealed, err := t.out.EncryptRTCP(buf[:0], plain, nil)
	if err != nil {
		return buf
	}
	_, _ = h.socks[0].conn.WriteToUDP(sealed, to)
	return sealed
}

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 §4).
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	s := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return s<<32 | frac
}

// rtcpState is the transport's RTCP bookkeeping (fields of rtcTransport,
// grouped here for the reader).
type rtcpState struct {
	upMu sync.Mutex // guards up
	up   uplinkStats
	// down and cache are guarded by rtcTransport.outMu.
	down  map[uint32]*downStats
	cache [nackCacheSize]nackEntry
}

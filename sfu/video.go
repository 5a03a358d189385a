package sfu

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/sfu/packetcache"
	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/sfu/simulcast"
	"github.com/parleyhq/parley/sfu/videocodec"
	"github.com/parleyhq/parley/voiceproto"
)

// Video forwarding (shared/docs/video.md §1, §3): a native sender's video
// streams (simulcast layers, each its own SSRC allocated at Identify)
// reach every other native receiver of the room on one stable outgoing
// SSRC per sender (its first stream's; RTX on that stream's RTX SSRC).
// Each (receiver, sender) pair has a simulcast.Forwarder: the receiver's
// target layer (videoDown.retarget: its op 15 through PickStream, capped
// by its bandwidth estimate through a simulcast.Selector, video_bwe.go),
// a switch only at a key frame of the target, SNs and timestamps
// continuous across switches (timestamps from the layers' RTCP sender
// reports when the sender sends them), the VP8 picture ID, TL0PICIDX and
// key index rewritten in the forwarded copy, keyframe requests (PLI to the
// sender, video_rtcp.go) coalesced per sender layer. Every source packet
// goes into its layer's packetcache.Cache; a receiver's NACK is answered
// from it on the RTX stream (video_rtcp.go). Browsers get no video yet:
// counted as DropVideoToWebRTC.

// videoState is a participant's video streams as a source: what Identify
// allocated, with op 12's Active and Quality. Immutable; replaced whole.
type videoState struct {
	streams []voiceproto.Stream
	gen     uint64 // changes on every replacement
}

// videoForwarder is a source's video ingress and per-receiver state; a
// reader holds mu while it fans out one of the source's video packets or
// handles RTCP about them.
type videoForwarder struct {
	mu     sync.Mutex // guards all following fields
	unwrap [voiceproto.MaxStreams]rtpmunger.Unwrapper
	// e2ee: the stream's last complete frame was a DAVE frame.
	e2ee [voiceproto.MaxStreams]bool
	// cache keeps each layer's recent packets for NACKs (allocated at the
	// layer's first packet).
	cache [voiceproto.MaxStreams]*packetcache.Cache
	// sr is each layer's latest RTCP sender report, for new receivers.
	sr [voiceproto.MaxStreams]senderReport
	// pliAt is when a keyframe request for the layer last went to the
	// sender (coalescing, pliInterval).
	pliAt [voiceproto.MaxStreams]time.Time
	// rate measures each layer's bit rate for the Selector.
	rate  [voiceproto.MaxStreams]rateMeter
	downs map[*Participant]*videoDown
}

// senderReport is a layer's RTCP sender report reference.
type senderReport struct {
	ok  bool
	ntp uint64
	rtp uint32
}

// videoDown is one receiver's view of one source's video.
type videoDown struct {
	fw *simulcast.Forwarder
	// want is the layer the receiver's op 15 asks for (PickStream), -1
	// none; the Forwarder's target may be lower (bandwidth).
	want int
	// stateGen and wantsGen are the generations want was computed at.
	stateGen, wantsGen uint64
	// sent maps recent outgoing SNs back to their source packets (NACK).
	sent sentMap
	rtx  *packetcache.RTX
}

var videoGens atomic.Uint64 // generations of videoState and sink wants

// AllocateVideo allocates an SSRC and an RTX SSRC (ssrc+1) for each of the
// streams a client declared in Identify (checked with
// voiceproto.CheckStreams by the caller) and returns them, inactive, as
// Ready answers them. Once per participant.
func (p *Participant) AllocateVideo(streams []voiceproto.Stream) ([]voiceproto.Stream, error) {
	if len(streams) == 0 {
		return []voiceproto.Stream{}, nil
	}
	if len(streams) > voiceproto.MaxStreams {
		return nil, voiceproto.ErrBadVideo
	}
	return p.srv.allocVideo(p, streams)
}

// SetVideo installs the streams of the participant's latest op 12 (decoded
// by voiceproto.DecodeVideo against what AllocateVideo returned): only
// Active streams are forwarded.
func (p *Participant) SetVideo(streams []voiceproto.Stream) {
	st := &videoState{streams: append([]voiceproto.Stream(nil), streams...), gen: videoGens.Add(1)}
	p.video.Store(st)
}

// SetSinkWants records the participant's op 15 as a receiver: the quality
// it wants of each sender.
func (p *Participant) SetSinkWants(w voiceproto.MediaSinkWants) {
	p.wants.Store(&sinkWants{w: w, gen: videoGens.Add(1)})
}

// sinkWants is a receiver's op 15 with its generation.
type sinkWants struct {
	w   voiceproto.MediaSinkWants
	gen uint64
}

// allocVideo picks a free (ssrc, ssrc+1) pair per stream and maps them to p.
func (s *Server) allocVideo(p *Participant, streams []voiceproto.Stream) ([]voiceproto.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if p.video.Load() != nil {
		return nil, ErrVideoAllocated
	}
	old := *s.bySSRC.Load()
	next := make(map[uint32]*Participant, len(old)+2*len(streams))
	for k, v := range old {
		next[k] = v
	}
	out := make([]voiceproto.Stream, len(streams))
	for i, st := range streams {
		var ssrc uint32
		for range 100 {
			c := rand.Uint32() &^ 1 // even, so c+1 never wraps to 0
			_, a := next[c]
			_, b := next[c+1]
			if c != 0 && !a && !b {
				ssrc = c
				break
			}
		}
		if ssrc == 0 {
			return nil, ErrSSRCSpace
		}
		next[ssrc], next[ssrc+1] = p, p
		st.SSRC, st.RTXSSRC, st.Active = ssrc, ssrc+1, false
		out[i] = st
	}
	s.bySSRC.Store(&next)
	p.video.Store(&videoState{streams: out, gen: videoGens.Add(1)})
	return append([]voiceproto.Stream(nil), out...), nil
}

// videoStream finds the stream of p whose SSRC (rtx false) or RTX SSRC
// (rtx true) is ssrc.
func (st *videoState) stream(ssrc uint32) (i int, rtx bool) {
	for i, s := range st.streams {
		switch ssrc {
		case s.SSRC:
			return i, false
		case s.RTX():
			return i, true
		}
	}
	return -1, false
}

// video handles an authenticated packet on one of p's video SSRCs.
func (r *reader) video(p *Participant, h *voiceproto.Header, payload []byte) {
	st := p.video.Load()
	if st == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	i, rtx := st.stream(h.SSRC)
	switch {
	case i < 0:
		r.ls.drops[DropUnknownSSRC]++
		return
	case rtx:
		r.ls.drops[DropRTX]++ // the SFU sends senders no NACKs, so no RTX is due
		return
	case h.PayloadType < 96 || h.PayloadType > 127 || h.PayloadType == voiceproto.PayloadTypeOpus:
		r.ls.drops[DropVideoPayloadType]++
		return
	case !st.streams[i].Active:
		r.ls.drops[DropVideoInactive]++
		return
	}
	r.ls.in++
	members := p.room.snapshot()
	if r.free() < len(members) {
		r.flush()
	}
	p.forwardVideo(r, members, st, i, h, payload)
	if r.queued() >= flushAt {
		r.flush()
	}
}

// videoPacket is what forwardVideo learned of an incoming packet.
type videoPacket struct {
	sp      simulcast.Packet
	vp8     videocodec.VP8
	pt      uint8
	payload []byte
	outSSRC uint32
}

// forwardVideo fans one packet of p's stream i out to every other member
// that gets that stream now.
func (p *Participant) forwardVideo(r *reader, members []*Participant, st *videoState, i int, h *voiceproto.Header, payload []byte) {
	f := &p.vfwd
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downs == nil {
		f.downs = map[*Participant]*videoDown{}
	}
	extSN, extTS := f.unwrap[i].Unwrap(h.Seq, h.Timestamp)
	vp := &r.vpkt
	*vp = videoPacket{pt: h.PayloadType, payload: payload, outSSRC: st.streams[0].SSRC}
	vp.sp = simulcast.Packet{Layer: i, ExtSeq: extSN, ExtTS: extTS, Marker: h.Marker, PaddingOnly: len(payload) == 0}
	source := numDropReasons
	switch h.PayloadType {
	case voiceproto.PayloadTypeVP8:
		var err error
		if vp.vp8, err = videocodec.ParseVP8(payload); err != nil && !vp.sp.PaddingOnly {
			source = DropMalformed
		} else if err == nil {
			vp.sp.VP8, vp.sp.SwitchPoint = &vp.vp8, vp.vp8.SwitchPoint()
		}
	case voiceproto.PayloadTypeH264:
		if hv, err := videocodec.ParseH264(payload); err == nil {
			vp.sp.SwitchPoint = hv.SwitchPoint()
		}
	default: // a codec whose key frames are not detected: any packet
		vp.sp.SwitchPoint = true
	}
	if source == numDropReasons && !vp.sp.PaddingOnly {
		f.cachePacket(i, extSN, h, payload)
		f.rate[i].add(r.now, len(payload))
	}
	// DAVE (dave.md §7): the SFU sees packets, not frames; a frame's last
	// packet (marker) ends with the DAVE footer, which is checked there.
	if h.Marker {
		f.e2ee[i] = daveFooter(payload)
		if p.room.dave.Load() && !f.e2ee[i] && source == numDropReasons {
			source = DropNotE2EE
		}
	}
	e2ee := f.e2ee[i] || p.room.dave.Load()
	if len(payload)+voiceproto.FixedHeaderLen+2 > maxForwardPayload {
		source = DropTooLarge
	}
	for _, q := range members {
		if q == p {
			continue
		}
		d := f.down(p, q)
		d.retarget(p, q, st)
		res := &r.vres
		var err error
		*res, err = d.fw.Push(r.now, &vp.sp)
		if res.RequestKeyframe && d.fw.Target() >= 0 {
			p.requestKeyframe(r, d.fw.Target(), st)
		}
		if err != nil {
			if errors.Is(err, simulcast.ErrOtherLayer) || errors.Is(err, simulcast.ErrWaitingKeyframe) ||
				errors.Is(err, simulcast.ErrPaused) || errors.Is(err, simulcast.ErrPadding) {
				r.ls.drops[DropVideoLayer]++
			} else {
				r.ls.drops[DropMunger]++
			}
			continue
		}
		reason := source
		qt := q.transport.Load()
		var ut videoTransport // native or browser (rtc_video.go)
		switch {
		case reason != numDropReasons:
		case qt == nil:
			reason = DropReceiverNotReady
		default:
			var ok bool
			if ut, ok = (*qt).(videoTransport); !ok {
				reason = DropVideoToWebRTC
			} else if e2ee && !q.daveCapable.Load() {
				reason = DropE2EEToPlainReceiver
			} else if !ut.ready(q) {
				reason = DropReceiverNotReady
			}
		}
		if reason == numDropReasons {
			// Hand the packet to the receiver's transport.
			reason = ut.sendVideo(r, q, vp, res)
		}
		if reason != numDropReasons {
			d.fw.Revert(extSN)
			r.ls.drops[reason]++
			continue
		}
		d.sent.put(*res, i, h.Seq, h.PayloadType)
	}
}

// down returns receiver q's state for source p, made on first use.
func (f *videoForwarder) down(p, q *Participant) *videoDown {
	d := f.downs[q]
	if d != nil {
		return d
	}
	fw, err := simulcast.New(simulcast.Config{})
	if err != nil {
		panic(err) // the zero Config is valid
	}
	for i, sr := range f.sr {
		if sr.ok {
			_ = fw.SetSenderReport(i, sr.ntp, sr.rtp)
		}
	}
	rtx, err := packetcache.NewRTX(uint16(rand.Uint32()), packetcache.RTXConfig{})
	if err != nil {
		panic(err) // the zero RTXConfig is valid
	}
	d = &videoDown{fw: fw, want: -1, rtx: rtx}
	f.downs[q] = d
	return d
}

// cachePacket keeps a source packet of layer i for NACKs.
func (f *videoForwarder) cachePacket(i int, extSN uint64, h *voiceproto.Header, payload []byte) {
	c := f.cache[i]
	if c == nil {
		var err error
		if c, err = packetcache.New(packetcache.Config{Size: videoCacheSize, MaxPayload: maxForwardPayload}); err != nil {
			panic(err) // constant, valid sizes
		}
		f.cache[i] = c
	}
	_ = c.Insert(packetcache.Meta{ExtSeq: extSN, TS: h.Timestamp, Marker: h.Marker}, payload)
}

// videoCacheSize is how many packets of each layer are kept for NACKs
// (about 2 s of 1.5 Mb/s video).
const videoCacheSize = 256

// retarget recomputes the layer receiver q wants of source p when p's
// streams or q's wants changed since it was last computed, and sets the
// Forwarder's target: the want, capped by q's bandwidth (video_bwe.go).
func (d *videoDown) retarget(p, q *Participant, st *videoState) {
	w := q.wants.Load()
	var wgen uint64
	var wants *voiceproto.MediaSinkWants
	if w != nil {
		wgen, wants = w.gen, &w.w
	}
	if d.stateGen != st.gen || d.wantsGen != wgen {
		d.stateGen, d.wantsGen = st.gen, wgen
		d.want = voiceproto.PickStream(st.streams, wants.Want(p.ssrc, st.streams[0].SSRC))
	}
	_ = d.fw.SetTarget(q.bwe.target(p, d.want))
}

// forgetVideoReceiver drops the video state kept for receiver r.
func (p *Participant) forgetVideoReceiver(r *Participant) {
	p.vfwd.mu.Lock()
	delete(p.vfwd.downs, r)
	p.vfwd.mu.Unlock()
}

// IsVP8Keyframe reports whether an RTP payload (RFC 7741: payload
// descriptor, then the VP8 payload) is the first packet of a VP8 keyframe:
// S set, partition index 0, and the VP8 payload header's P bit (inverse
// keyframe flag, RFC 6386 §9.1) clear. DAVE leaves those bytes in clear.
func IsVP8Keyframe(payload []byte) bool {
	n := VP8DescriptorLen(payload)
	if n < 0 || n >= len(payload) {
		return false
	}
	if payload[0]&0x10 == 0 || payload[0]&0x07 != 0 { // S, PID
		return false
	}
	return payload[n]&0x01 == 0
}

// VP8DescriptorLen is the length of the RFC 7741 §4.2 payload descriptor
// at the start of payload, or -1 if it is truncated.
func VP8DescriptorLen(payload []byte) int {
	if len(payload) < 1 {
		return -1
	}
	n := 1
	if payload[0]&0x80 == 0 { // no X: one byte
		return n
	}
	if len(payload) < 2 {
		return -1
	}
	x := payload[1]
	n++
	if x&0x80 != 0 { // I: picture ID, 7 or 15 bits (M)
		if len(payload) < n+1 {
			return -1
		}
		if payload[n]&0x80 != 0 {
			n += 2
		} else {
			n++
		}
	}
	if x&0x40 != 0 { // L: TL0PICIDX
		n++
	}
	if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
		n++
	}
	if n > len(payload) {
		return -1
	}
	return n
}

// daveFooter reports whether a frame's last packet ends like a DAVE frame
// (dave.md §7): the FA FA marker after a supplemental size of at least
// dave.MinSupplementalSize. The rest of the footer may lie in an earlier
// packet, so nothing more is required of it.
func daveFooter(payload []byte) bool {
	n := len(payload)
	return dave.HasMarker(payload) && n >= dave.MarkerSize+1 && int(payload[n-3]) >= dave.MinSupplementalSize
}

package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/sfu/simulcast"
	"github.com/parleyhq/parley/voiceproto"
)

// Browser video (voiceproto/webrtc_video.go has the dialect): a browser's
// camera RTP is mapped by its RID header extension onto the streams its
// Identify declared and the server allocated, rewritten to the allocated
// SSRC and the room's payload type, and handed to reader.video like a
// native sender's; forwarded video reaches a browser in its own VP8
// payload type (videoTransport.sendVideo). A browser's PLI or FIR for a
// sender's SSRC asks that sender for a keyframe (requestKeyframe): a
// browser sender gets a PLI for each of its layers, at most one round per
// keyframeInterval. NACKs for video are answered from a per-browser cache
// of the sealed video datagrams last sent to it (rtcVideoCacheSize).

const (
	// rtcVideoCacheSize sealed video datagrams are kept per browser receiver
	// for NACKs (about a second of a 1 Mbit/s camera).
	rtcVideoCacheSize = 256
	// keyframeInterval bounds keyframe requests towards one sender.
	keyframeInterval = 500 * time.Millisecond
)

// rtcVideo is a browser transport's video: the codecs it takes and, as a
// sender, which of its SSRCs carries which allocated stream.
type rtcVideo struct {
	vp8          voiceproto.VideoCodecPT // PayloadType 0: no VP8
	ridID, rrdID uint8                   // RID and repaired-RID extension ids (0: none)

	mu sync.Mutex // guards the following
	// streams maps the browser's SSRCs to their stream index; rtx marks a
	// repair (RTX) SSRC.
	streams map[uint32]browserStream
	// byStream is the browser's media SSRC of each stream (for PLI).
	byStream [voiceproto.MaxStreams]uint32
}

type browserStream struct {
	i   int
	rtx bool
}

// maxBrowserSSRCs bounds the SSRCs one browser can have mapped (its
// layers and their RTX, a few renegotiations over).
const maxBrowserSSRCs = 4 * voiceproto.MaxStreams

// takes reports whether pt is one of the browser's video payload types.
func (v *rtcVideo) takes(pt uint8) bool {
	return v.vp8.PayloadType != 0 && (int(pt) == v.vp8.PayloadType || int(pt) == v.vp8.RTXPayloadType)
}

// stream finds (or learns from the RID extension) the stream of a browser
// SSRC; ok is false when the packet can be mapped to none.
func (v *rtcVideo) stream(st *videoState, h *voiceproto.Header, pkt []byte) (browserStream, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.streams[h.SSRC]; ok {
		return s, true
	}
	rtx := int(h.PayloadType) == v.vp8.RTXPayloadType
	id := v.ridID
	if rtx {
		id = v.rrdID
	}
	raw, ok := voiceproto.Extension(pkt, h, id)
	if !ok {
		return browserStream{}, false
	}
	rid, ok := voiceproto.RID(raw)
	if !ok {
		return browserStream{}, false
	}
	for i, s := range st.streams {
		if s.RID != rid {
			continue
		}
		if v.streams == nil || len(v.streams) >= maxBrowserSSRCs {
			v.streams = map[uint32]browserStream{} // a new peer connection's SSRCs replace the old
		}
		bs := browserStream{i: i, rtx: rtx}
		v.streams[h.SSRC] = bs
		if !rtx {
			v.byStream[i] = h.SSRC
		}
		return bs, true
	}
	return browserStream{}, false
}

// rtcVideo ingests one opened video packet (plain) of browser transport t.
func (r *reader) rtcVideo(t *rtcTransport, h *voiceproto.Header, plain []byte) {
	p := t.p
	t.upMu.Lock()
	t.up.recordTWCC(h, plain, r.now) // probes and RTX count for the estimate too
	t.upMu.Unlock()
	st := p.video.Load()
	if st == nil {
		r.ls.drops[DropUnknownSSRC]++
		return
	}
	bs, ok := t.video.stream(st, h, plain)
	switch {
	case !ok:
		r.ls.drops[DropUnknownSSRC]++
		return
	case bs.rtx:
		r.ls.drops[DropRTX]++ // the server sends browsers no NACKs yet, so RTX is padding
		return
	case h.PayloadEnd <= h.PayloadStart:
		r.ls.drops[DropMalformed]++ // padding only
		return
	}
	h.SSRC = st.streams[bs.i].SSRC
	h.PayloadType = voiceproto.PayloadTypeVP8
	r.video(p, h, plain[h.PayloadStart:h.PayloadEnd])
}

// videoTransport is what forwardVideo needs of a receiver's transport.
type videoTransport interface {
	ready(q *Participant) bool
	// sendVideo sends one forwarded video packet to receiver q: the header
	// from res on the sender's stable outgoing SSRC, the payload with its
	// VP8 fields rewritten as res says (in q's copy only). It returns
	// numDropReasons when queued, or why it was dropped.
	sendVideo(r *reader, q *Participant, vp *videoPacket, res *simulcast.Result) DropReason
}

// sendVideo sends a forwarded video packet in the browser's payload type
// for the codec; a codec it did not offer is DropVideoToWebRTC.
func (t *rtcTransport) sendVideo(r *reader, _ *Participant, vp *videoPacket, res *simulcast.Result) DropReason {
	if vp.pt != voiceproto.PayloadTypeVP8 || t.video.vp8.PayloadType == 0 {
		return DropVideoToWebRTC
	}
	payload := vp.payload
	if res.VP8 {
		r.vbuf = append(r.vbuf[:0], vp.payload...)
		v := vp.vp8 // Rewrite updates its receiver; the parse is shared
		if err := v.Rewrite(r.vbuf, res.PictureID, res.TL0PICIDX, res.KeyIdx); err != nil {
			return DropMalformed
		}
		payload = r.vbuf
	}
	return t.sendPT(r, uint8(t.video.vp8.PayloadType), voiceproto.VideoClockRate, res.Seq, res.TS, res.Marker, vp.outSSRC, payload)
}

// videoCacheEntry is one sealed video datagram kept for a NACK.
type videoCacheEntry struct {
	ssrc   uint32
	seq    uint16
	resent uint8
	b      []byte // nil: empty
}

// cacheVideoLocked keeps a sealed video datagram for NACKs; the caller
// holds outMu.
func (t *rtcTransport) cacheVideoLocked(ssrc uint32, seq uint16, sealed []byte) {
	if t.vcache == nil {
		t.vcache = make([]videoCacheEntry, rtcVideoCacheSize)
	}
	e := &t.vcache[seq%rtcVideoCacheSize]
	e.ssrc, e.seq, e.resent = ssrc, seq, 0
	e.b = append(e.b[:0], sealed...)
}

// cachedVideoLocked returns the cached video datagram of (ssrc, seq) for a
// resend, or nil; the caller holds outMu.
func (t *rtcTransport) cachedVideoLocked(ssrc uint32, seq uint16) []byte {
	if t.vcache == nil {
		return nil
	}
	e := &t.vcache[seq%rtcVideoCacheSize]
	if e.b == nil || e.ssrc != ssrc || e.seq != seq || e.resent >= maxRetransmits {
		return nil
	}
	e.resent++
	return e.b
}

// keyframeRequest throttles keyframe requests towards one sender.
type keyframeRequest struct {
	last atomic.Int64 // unix nanoseconds of the last request
}

// due reports whether a request at now may go out, and claims it.
func (k *keyframeRequest) due(now time.Time) bool {
	last := k.last.Load()
	if now.UnixNano()-last < int64(keyframeInterval) {
		return false
	}
	return k.last.CompareAndSwap(last, now.UnixNano())
}

// requestKeyframe asks browser sender p for a keyframe of its video (a
// receiver's PLI or FIR, or the forwarder's request for a layer switch or
// a new receiver, through Participant.requestKeyframe): a PLI for each of
// its layers, at most one round per keyframeInterval. Native senders get
// theirs from Participant.requestKeyframe (video_rtcp.go).
func (r *reader) requestKeyframe(p *Participant) {
	t, ok := p.rtcTransport()
	if !ok || !t.ready(p) || !t.keyframes.due(r.now) {
		return
	}
	t.video.mu.Lock()
	ssrcs := t.video.byStream
	t.video.mu.Unlock()
	var pkts []rtcp.Packet
	for _, s := range ssrcs {
		if s != 0 {
			pkts = append(pkts, &rtcp.PictureLossIndication{SenderSSRC: p.ssrc, MediaSSRC: s})
		}
	}
	if len(pkts) == 0 {
		return
	}
	plain, err := rtcp.Marshal(pkts)
	if err != nil {
		return
	}
	r.sendRTCP(t, plain)
}

// sendRTCP seals plain RTCP for browser t into the reader's batch.
func (r *reader) sendRTCP(t *rtcTransport, plain []byte) {
	to := t.remote.Load()
	if to == nil {
		return
	}
	if r.rtc.free() == 0 {
		r.flush()
	}
	t.outMu.Lock()
	sealed, err := t.out.EncryptRTCP(r.rtc.slot()[:0], plain, nil)
	t.outMu.Unlock()
	if err == nil {
		r.rtc.commit(sealed, to)
	}
}

// onKeyframeRequest handles a browser's PLI or FIR for media SSRC: the
// sender whose video goes out on it is asked for a keyframe.
func (r *reader) onKeyframeRequest(ssrc uint32) {
	if p := r.srv.participant(ssrc); p != nil && p.ssrc != ssrc {
		r.requestKeyframe(p)
	}
}

package voiceclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/voiceproto"
)

// Video (shared/docs/video.md §1): streams declared in Identify
// (Config.VideoStreams) and allocated in Ready, op 12 before sending, VP8
// frames packetized per RFC 7741 (a 15-bit picture ID, S on a frame's first
// packet, the RTP marker on its last), DAVE-encrypted as a whole frame with
// codec VP8 when DAVE is on; received VP8 reassembled into frames by
// timestamp and marker, DAVE-decrypted, and handed to
// Config.OnVideoFrame.

// VideoFrame is one received, reassembled (and decrypted) video frame.
type VideoFrame struct {
	UserID    string
	SSRC      uint32
	Timestamp uint32 // 90 kHz
	Keyframe  bool
	Data      []byte // the VP8 frame; valid only during the call
	Received  time.Time
}

// maxVideoPayload is the VP8 bytes per packet (after the 4-byte
// descriptor), so a sealed datagram stays under 1500 bytes.
const maxVideoPayload = 1100

// maxVideoFrame bounds a frame reassembled from packets.
const maxVideoFrame = 4 << 20

// videoSend is one stream's sending state, guarded by the sender's mu.
type videoSend struct {
	seq uint16
	pic uint16 // 15-bit picture ID
}

// videoRecv reassembles one SSRC's packets into frames (guarded by dmu).
type videoRecv struct {
	ts      uint32
	next    uint16 // the next expected sequence number
	open    bool   // a frame is being assembled
	broken  bool   // a packet of it is missing
	started bool   // its first packet (S, partition 0) arrived
	key     bool
	buf     []byte
}

// VideoStreams returns the streams Ready allocated for Config.VideoStreams
// (with their SSRCs), in order.
func (c *Conn) VideoStreams() []voiceproto.Stream {
	return append([]voiceproto.Stream(nil), c.videoStreams...)
}

// StartVideo sends op 12 announcing the first active layers of
// VideoStreams (all when layers is 0): the server forwards only streams an
// op 12 made active.
func (c *Conn) StartVideo(layers int) error {
	if len(c.videoStreams) == 0 {
		return fmt.Errorf("%w: no video streams allocated", ErrConfig)
	}
	st := c.VideoStreams()
	for i := range st {
		st[i].Active = layers == 0 || i < layers
	}
	return c.writeOp(voiceproto.OpVideo, voiceproto.Video{
		AudioSSRC: c.ssrc, VideoSSRC: st[0].SSRC, RTXSSRC: st[0].RTX(), Streams: st})
}

// SendVideoFrame sends one VP8 frame on layer (an index of VideoStreams)
// with RTP timestamp ts (90 kHz).
func (c *Conn) SendVideoFrame(layer int, frame []byte, ts uint32) error {
	if layer < 0 || layer >= len(c.videoStreams) {
		return fmt.Errorf("%w: no video layer %d", ErrConfig, layer)
	}
	if len(frame) == 0 || len(frame) > maxVideoFrame {
		return ErrFrameTooLarge
	}
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	ciph := c.cipher.Load()
	if ciph == nil {
		return ErrClosed
	}
	if c.dave != nil {
		var err error
		if frame, err = c.dave.encryptCodec(dave.CodecVP8, frame); err != nil {
			return err
		}
	}
	vs := &s.video[layer]
	ssrc := c.videoStreams[layer].SSRC
	pic := vs.pic
	vs.pic = (vs.pic + 1) & 0x7FFF
	pkt := make([]byte, 0, voiceproto.FixedHeaderLen+4+maxVideoPayload)
	for off := 0; off < len(frame); off += maxVideoPayload {
		end := min(off+maxVideoPayload, len(frame))
		pkt = pkt[:voiceproto.FixedHeaderLen]
		voiceproto.PutFixedHeader(pkt, end == len(frame), voiceproto.PayloadTypeVP8, vs.seq, ts, ssrc)
		vs.seq++
		d0 := byte(0x80) // X
		if off == 0 {
			d0 |= 0x10 // S, partition 0
		}
		pkt = append(pkt, d0, 0x80, 0x80|byte(pic>>8), byte(pic)) // I, M, 15-bit picture ID
		pkt = append(pkt, frame[off:end]...)
		s.nonce++
		wire, err := ciph.Seal(s.wire[:0], pkt, voiceproto.ClientNonce(s.nonce))
		if err != nil {
			return err
		}
		if _, err := c.udp.Write(wire); err != nil {
			c.stats.udpErrors.Add(1)
			return err
		}
	}
	c.stats.videoFramesSent.Add(1)
	return nil
}

// PlayIVF sends an IVF file's frames on layer at the file's frame rate
// (its timestamps), until the end or ctx ends. It returns the frames sent.
func (c *Conn) PlayIVF(ctx context.Context, layer int, h IVFHeader, frames []IVFFrame) (int, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	unit := time.Second * time.Duration(h.Numerator) / time.Duration(h.Denominator)
	start := time.Now()
	base := frames[0].Timestamp
	t := time.NewTimer(0)
	defer t.Stop()
	for i, f := range frames {
		at := start.Add(time.Duration(f.Timestamp-base) * unit)
		t.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return i, ctx.Err()
		case <-c.closing:
			return i, ErrClosed
		case <-t.C:
		}
		ts := uint32((f.Timestamp - base) * uint64(voiceproto.VideoClockRate) * uint64(h.Numerator) / uint64(h.Denominator))
		if err := c.SendVideoFrame(layer, f.Data, ts); err != nil {
			return i, err
		}
	}
	return len(frames), nil
}

// onVideo records a peer's op 12: its video SSRCs map to its user.
func (c *Conn) onVideo(raw json.RawMessage) error {
	var v voiceproto.Video
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	if v.UserID == "" {
		return nil
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if v.VideoSSRC != 0 {
		c.videoUsers[v.VideoSSRC] = string(v.UserID)
	}
	for _, s := range v.Streams {
		if s.SSRC != 0 {
			c.videoUsers[s.SSRC] = string(v.UserID)
		}
	}
	return nil
}

// videoPacket reassembles a received VP8 packet (the RTP payload).
func (c *Conn) videoPacket(h voiceproto.Header, payload []byte, now time.Time) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	n := vp8DescriptorLen(payload)
	if n < 0 {
		c.stats.ignored.Add(1)
		return
	}
	r := c.videoRecv[h.SSRC]
	if r == nil {
		if len(c.videoRecv) >= maxPendingSSRCs {
			c.stats.ignored.Add(1)
			return
		}
		r = &videoRecv{}
		c.videoRecv[h.SSRC] = r
	}
	if r.open && h.Timestamp != r.ts { // the last frame never ended
		c.stats.videoGaps.Add(1)
		r.open = false
	}
	if !r.open {
		*r = videoRecv{ts: h.Timestamp, next: h.Seq, open: true, buf: r.buf[:0]}
	}
	if h.Seq != r.next {
		r.broken = true
	}
	r.next = h.Seq + 1
	start := payload[0]&0x10 != 0 && payload[0]&0x07 == 0
	if start {
		r.started = true
		r.key = n < len(payload) && payload[n]&0x01 == 0
	}
	if len(r.buf)+len(payload)-n > maxVideoFrame {
		r.broken = true
	} else {
		r.buf = append(r.buf, payload[n:]...)
	}
	if !h.Marker {
		return
	}
	r.open = false
	if r.broken || !r.started {
		c.stats.videoGaps.Add(1)
		return
	}
	user, ok := c.videoUsers[h.SSRC]
	if !ok {
		c.stats.unknownSSRC.Add(1)
		return
	}
	f := Frame{UserID: user, SSRC: h.SSRC, Timestamp: h.Timestamp, Marker: r.key, Opus: r.buf, Received: now, video: true}
	if c.dave != nil {
		f.Opus = append([]byte(nil), r.buf...) // DAVE may hold it
		c.decryptLocked(f)
		return
	}
	c.deliverLocked(f)
}

// deliverVideoLocked counts a video frame and calls OnVideoFrame.
func (c *Conn) deliverVideoLocked(f Frame) {
	key := f.Marker
	if len(f.Opus) > 0 { // after DAVE: the frame's own keyframe bit
		key = f.Opus[0]&0x01 == 0
	}
	c.stats.videoFramesReceived.Add(1)
	if key {
		c.stats.videoKeyframes.Add(1)
	}
	if c.cfg.OnVideoFrame != nil {
		c.cfg.OnVideoFrame(VideoFrame{UserID: f.UserID, SSRC: f.SSRC, Timestamp: f.Timestamp, Keyframe: key,
			Data: f.Opus, Received: f.Received})
	}
}

// vp8DescriptorLen is the length of an RFC 7741 payload descriptor, or -1.
func vp8DescriptorLen(p []byte) int {
	if len(p) < 1 {
		return -1
	}
	if p[0]&0x80 == 0 {
		return 1
	}
	if len(p) < 2 {
		return -1
	}
	x, n := p[1], 2
	if x&0x80 != 0 {
		if len(p) < 3 {
			return -1
		}
		if p[2]&0x80 != 0 {
			n += 2
		} else {
			n++
		}
	}
	if x&0x40 != 0 {
		n++
	}
	if x&0x30 != 0 {
		n++
	}
	if n > len(p) {
		return -1
	}
	return n
}

package voiceclient

import (
	"context"
	"encoding/binary"
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
	// paused: the server's op 15 says nobody gets this layer;
	// needKey: a PLI asked for a keyframe (or the layer resumes).
	paused, needKey bool
	// For sender reports: packets and payload octets sent, the last
	// frame's timestamp and when it went.
	sent            bool
	packets, octets uint32
	lastTS          uint32
	lastAt          time.Time
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
	c.startVideoLoop()
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
		vs.packets++
		vs.octets += uint32(len(pkt) - voiceproto.FixedHeaderLen)
	}
	vs.sent, vs.lastTS, vs.lastAt = true, ts, time.Now()
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
		rtx := v.RTXSSRC
		if rtx == 0 {
			rtx = v.VideoSSRC + 1
		}
		c.videoRTX[rtx] = v.VideoSSRC // the SFU's RTX for what it forwards
	}
	for _, s := range v.Streams {
		if s.SSRC != 0 {
			c.videoUsers[s.SSRC] = string(v.UserID)
		}
	}
	return nil
}

// videoPacket takes a received VP8 packet (the RTP payload) or an RTX
// packet answering a NACK (payload type VP8+1, RFC 4588: the original SN
// in its first two bytes) into its stream's jitter buffer and delivers
// the frames it completes.
func (c *Conn) videoPacket(h voiceproto.Header, payload []byte, now time.Time) {
	c.startVideoLoop()
	rtx := h.PayloadType == voiceproto.PayloadTypeVP8+1
	c.dmu.Lock()
	defer c.dmu.Unlock()
	ssrc, seq := h.SSRC, h.Seq
	if rtx {
		if len(payload) < 2 {
			c.stats.ignored.Add(1)
			return
		}
		seq = binary.BigEndian.Uint16(payload)
		payload = payload[2:]
		if m, ok := c.videoRTX[h.SSRC]; ok {
			ssrc = m
		} else {
			ssrc = h.SSRC - 1
		}
		c.stats.videoRTXReceived.Add(1)
	}
	n := vp8DescriptorLen(payload)
	if n < 0 {
		c.stats.ignored.Add(1)
		return
	}
	r := c.videoRecv[ssrc]
	if r == nil {
		if rtx || len(c.videoRecv) >= maxPendingSSRCs {
			c.stats.ignored.Add(1)
			return
		}
		r = &videoJitter{}
		c.videoRecv[ssrc] = r
	}
	start := payload[0]&0x10 != 0 && payload[0]&0x07 == 0
	r.push(now, seq, h.Timestamp, h.Marker, start, payload[n:], rtx)
	c.releaseLocked(ssrc, r, now)
}

// releaseLocked delivers the frames r completes at now (c.dmu held) and
// counts those it gives up.
func (c *Conn) releaseLocked(ssrc uint32, r *videoJitter, now time.Time) {
	before := r.stats.givenUp
	r.release(now, func(jf jitterFrame) {
		user, ok := c.videoUsers[ssrc]
		if !ok {
			c.stats.unknownSSRC.Add(1)
			return
		}
		f := Frame{UserID: user, SSRC: ssrc, Timestamp: jf.ts, Marker: jf.key, Opus: jf.data, Received: now, video: true}
		if c.dave != nil {
			c.decryptLocked(f) // jf.data is the frame's own: DAVE may hold it
			return
		}
		c.deliverLocked(f)
	})
	c.stats.videoGaps.Add(r.stats.givenUp - before)
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

package voiceclient

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/pion/rtcp"

	"github.com/parleyhq/parley/voiceproto"
)

// Video feedback on the native socket (voiceproto.Cipher.SealRTCP: RTCP
// sealed like RTP, its first 8 bytes in clear). As a sender the client
// sends an RTCP sender report per layer every srInterval (the SFU times
// layer switches from them) and answers a PLI or FIR about a layer with
// that layer's next keyframe (camera.go); it pauses the layers the
// server's op 15 says nobody gets and resumes them (with a keyframe) when
// someone does. As a receiver it sends a receiver report about every video
// stream it gets every rrInterval (loss fraction, cumulative loss, highest
// SN, jitter: the SFU's bandwidth estimate) and NACKs (RFC 4585 §6.2.1)
// for the SNs its jitter buffers miss (jitter.go); the SFU answers them
// with RTX. It asks for a keyframe (PLI, RFC 4585 §6.3.1, at most every
// pliInterval) for a stream with nothing decodable: no keyframe yet, or
// a frame lost (given up, or dropped by DAVE, e.g. sealed under an epoch
// gone) since the last one; the SFU passes it on to the sender. One goroutine (videoLoop), started with the first video sent
// or received, does the periodic part.

const (
	videoTick  = 20 * time.Millisecond
	rrInterval = 500 * time.Millisecond
	srInterval = time.Second
)

// LayerChange is a change of the picture size of a received stream (a
// keyframe with new dimensions: another simulcast layer).
type LayerChange struct {
	At            time.Time
	Width, Height int
	// Gap is the time since the frame completed before it.
	Gap time.Duration
}

// VideoStreamStats are one received video stream's figures.
type VideoStreamStats struct {
	SSRC   uint32 `json:"ssrc"`
	UserID string `json:"user_id"`
	// Frames completed (every packet arrived in time) and given up.
	Frames  uint64 `json:"frames"`
	GivenUp uint64 `json:"given_up"`
	// LargestGap between two completed frames.
	LargestGap time.Duration `json:"largest_gap_ns"`
	// Packets received (with RTX), of which RTX and RTX that filled a
	// hole; late (after their frame was given up) and duplicates.
	Packets    uint64 `json:"packets"`
	RTX        uint64 `json:"rtx"`
	RTXUseful  uint64 `json:"rtx_useful"`
	Late       uint64 `json:"late"`
	Duplicates uint64 `json:"duplicates"`
	// NACKed counts SNs asked for (each retry again); Lost the cumulative
	// loss reported (RFC 3550: expected less received, RTX not counted).
	NACKed        uint64        `json:"nacked"`
	Lost          uint32        `json:"lost"`
	Width         int           `json:"width"`
	Height        int           `json:"height"`
	LayerChanges  []LayerChange `json:"layer_changes"`
	LastFrameTime time.Time     `json:"last_frame_time"`
}

// VideoReceiveStats returns the figures of every video stream received.
func (c *Conn) VideoReceiveStats() []VideoStreamStats {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	out := make([]VideoStreamStats, 0, len(c.videoRecv))
	for ssrc, r := range c.videoRecv {
		s := r.stats
		expected := int64(r.highest - r.base + 1)
		lost := uint32(0)
		if r.started && expected > int64(r.received) {
			lost = uint32(expected - int64(r.received))
		}
		out = append(out, VideoStreamStats{SSRC: ssrc, UserID: c.videoUsers[ssrc], Frames: s.frames, GivenUp: s.givenUp,
			LargestGap: s.largestGap, Packets: s.packets, RTX: s.rtx, RTXUseful: s.rtxUseful, Late: s.late,
			Duplicates: s.dups, NACKed: s.nacked, Lost: lost, Width: s.width, Height: s.height,
			LayerChanges: slices.Clone(s.changes), LastFrameTime: s.lastFrameAt})
	}
	slices.SortFunc(out, func(a, b VideoStreamStats) int { return int(int64(a.SSRC) - int64(b.SSRC)) })
	return out
}

// startVideoLoop starts videoLoop once (not after Close began).
func (c *Conn) startVideoLoop() {
	if c.vloop.Load() || c.rtc != nil {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.vloop.Load() {
		return
	}
	select {
	case <-c.closing:
		return
	default:
	}
	c.vloop.Store(true)
	c.wg.Add(1)
	go c.videoLoop()
}

// videoLoop gives up stalled frames, sends NACKs, receiver reports and
// sender reports.
func (c *Conn) videoLoop() {
	defer c.wg.Done()
	t := time.NewTicker(videoTick)
	defer t.Stop()
	var lastRR, lastSR time.Time
	for {
		select {
		case <-c.closing:
			return
		case now := <-t.C:
			rr := now.Sub(lastRR) >= rrInterval
			if rr {
				lastRR = now
			}
			c.receiverFeedback(now, rr)
			if now.Sub(lastSR) >= srInterval {
				lastSR = now
				c.senderReports(now)
			}
		}
	}
}

// receiverFeedback releases or gives up frames, then sends the NACKs due
// and, when rr, a receiver report about every received video stream.
func (c *Conn) receiverFeedback(now time.Time, rr bool) {
	var pkts []rtcp.Packet
	var reports []rtcp.ReceptionReport
	var seqs []uint16
	c.dmu.Lock()
	for ssrc, r := range c.videoRecv {
		c.releaseLocked(ssrc, r, now)
		seqs = seqs[:0]
		if !c.cfg.DisableNACK {
			seqs = r.nackList(now, seqs)
		}
		if len(seqs) > 0 {
			c.stats.videoNACKed.Add(uint64(len(seqs)))
			pkts = append(pkts, &rtcp.TransportLayerNack{SenderSSRC: c.ssrc, MediaSSRC: ssrc,
				Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
		}
		if r.pliDue(now) {
			c.stats.videoPLISent.Add(1)
			pkts = append(pkts, &rtcp.PictureLossIndication{SenderSSRC: c.ssrc, MediaSSRC: ssrc})
		}
		if rr && len(reports) < 31 {
			if frac, lost, hi, jit, ok := r.report(); ok {
				reports = append(reports, rtcp.ReceptionReport{SSRC: ssrc, FractionLost: frac, TotalLost: lost,
					LastSequenceNumber: hi, Jitter: jit})
			}
		}
	}
	c.dmu.Unlock()
	if len(reports) > 0 {
		// A compound packet starts with a report (RFC 3550 §6.1).
		pkts = append([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: c.ssrc, Reports: reports}}, pkts...)
		c.stats.videoReceiverReports.Add(1)
	}
	if len(pkts) > 0 {
		_ = c.sendRTCP(pkts)
	}
}

// senderReports sends a sender report about every layer being sent.
func (c *Conn) senderReports(now time.Time) {
	var pkts []rtcp.Packet
	s := &c.send
	s.mu.Lock()
	for i := range s.video {
		v := &s.video[i]
		if !v.sent || v.paused {
			continue
		}
		rtp := v.lastTS + uint32(now.Sub(v.lastAt)*voiceproto.VideoClockRate/time.Second)
		pkts = append(pkts, &rtcp.SenderReport{SSRC: c.videoStreams[i].SSRC, NTPTime: ntpTime(now), RTPTime: rtp,
			PacketCount: v.packets, OctetCount: v.octets})
	}
	s.mu.Unlock()
	if len(pkts) > 0 && c.sendRTCP(pkts) == nil {
		c.stats.videoSenderReports.Add(uint64(len(pkts)))
	}
}

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 §4).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	sec := uint64(t.Unix()) + unixToNTP
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return sec<<32 | frac
}

// sendRTCP seals one compound RTCP packet and sends it.
func (c *Conn) sendRTCP(pkts []rtcp.Packet) error {
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		return err
	}
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	ciph := c.cipher.Load()
	if ciph == nil || c.udp == nil {
		return ErrClosed
	}
	s.nonce++
	wire, err := ciph.SealRTCP(s.wire[:0], b, voiceproto.ClientNonce(s.nonce))
	if err != nil {
		return err
	}
	if _, err := c.udp.Write(wire); err != nil {
		c.stats.udpErrors.Add(1)
		return err
	}
	return nil
}

// rtcpPacket opens one sealed RTCP datagram: keyframe requests about the
// client's layers are honoured; the rest is ignored.
func (c *Conn) rtcpPacket(pkt, clear []byte, _ time.Time) {
	ciph := c.cipher.Load()
	if ciph == nil {
		c.stats.ignored.Add(1)
		return
	}
	plain, err := ciph.OpenRTCP(clear[:0], pkt)
	if err != nil {
		c.stats.decryptErrors.Add(1)
		return
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		c.stats.rtcpMalformed.Add(1)
		return
	}
	c.stats.rtcpReceived.Add(1)
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication:
			c.keyframeRequest(p.MediaSSRC)
		case *rtcp.FullIntraRequest:
			c.keyframeRequest(p.MediaSSRC)
		}
	}
}

// keyframeRequest marks the layer whose SSRC is media to send its next
// keyframe.
func (c *Conn) keyframeRequest(media uint32) {
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.video {
		if c.videoStreams[i].SSRC == media {
			s.video[i].needKey = true
			c.stats.videoPLIReceived.Add(1)
		}
	}
}

// onSinkWants takes the server's op 15 to this client as a sender: a
// layer wanted at 0 is paused, one wanted again resumed at its next
// keyframe.
func (c *Conn) onSinkWants(raw json.RawMessage) error {
	w, err := voiceproto.DecodeMediaSinkWants(raw)
	if err != nil {
		return err
	}
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.video {
		q, ok := w.BySSRC[c.videoStreams[i].SSRC]
		if !ok {
			continue
		}
		v := &s.video[i]
		switch {
		case q == 0 && !v.paused:
			v.paused = true
			c.stats.videoLayerPauses.Add(1)
		case q > 0 && v.paused:
			v.paused, v.needKey = false, true
			c.stats.videoLayerResumes.Add(1)
		}
	}
	return nil
}

// LayerPaused reports whether the server's op 15 paused layer i.
func (c *Conn) LayerPaused(i int) bool {
	s := &c.send
	s.mu.Lock()
	defer s.mu.Unlock()
	return i >= 0 && i < len(s.video) && s.video[i].paused
}

package simulcast

import (
	"time"

	"github.com/parleyhq/parley/sfu/rtpmunger"
	"github.com/parleyhq/parley/sfu/videocodec"
)

// Packet is what the Forwarder needs of an incoming video packet.
type Packet struct {
	// Layer is the simulcast layer index, 0 the lowest, in the order of
	// the sender's streams.
	Layer int
	// ExtSeq and ExtTS are the packet's sequence number and timestamp
	// extended by its layer's own rtpmunger.Unwrapper.
	ExtSeq, ExtTS uint64
	// Marker is the RTP marker: the last packet of a frame.
	Marker bool
	// SwitchPoint: the packet starts a key frame (videocodec.VP8 or H264
	// SwitchPoint); a receiver switches layers only here.
	SwitchPoint bool
	// PaddingOnly: no media (RFC 3550 padding, bandwidth probes). It is
	// swallowed and the outgoing sequence numbers stay contiguous.
	PaddingOnly bool
	// VP8 is the packet's parsed descriptor, or nil for other codecs.
	VP8 *videocodec.VP8
}

// Result is the outgoing header of a forwarded packet.
type Result struct {
	Seq           uint16 // wire sequence number
	TS            uint32 // wire timestamp
	ExtSeq, ExtTS uint64 // 64-bit outgoing values, for a NACK sequencer
	// Marker is the incoming marker (end of frame): for video it is
	// copied, not the munger's talk-spurt marker.
	Marker bool
	// Switched: the first packet of a layer (the stream's first, a switch
	// or a resume).
	Switched bool
	// VP8: write PictureID, TL0PICIDX and KeyIdx into the receiver's copy
	// of the payload with Packet.VP8.Rewrite.
	VP8       bool
	PictureID uint16
	TL0PICIDX uint8
	KeyIdx    uint8
	// RequestKeyframe: a keyframe request (PLI or FIR) for the target
	// layer is due now; the Forwarder counted it as sent (KeyframeDue).
	RequestKeyframe bool
}

// Stats counts what a Forwarder did.
type Stats struct {
	Forwarded        uint64
	Switches         uint64 // layer switches, starts and resumes included
	SRSwitches       uint64 // switches timed from sender reports
	KeyframeRequests uint64
	DropOtherLayer   uint64
	DropWaiting      uint64
	DropPaused       uint64
	DropPadding      uint64
	DropMunger       uint64 // duplicates, too old, stragglers of a switch
}

// senderReport is a layer's latest RTCP sender report reference.
type senderReport struct {
	ok  bool
	ntp uint64 // NTP timestamp, 32.32 fixed point seconds
	rtp uint32
}

// Forwarder decides, per receiver and video sender, which packets of which
// simulcast layer go out, and rewrites them into one continuous stream.
// See the package documentation. It is a pure state machine: the caller
// passes the time and holds its own lock around every call.
type Forwarder struct {
	cfg     Config
	munger  rtpmunger.Munger
	vp8     vp8Munger
	current int // layer being forwarded, -1 none
	target  int // layer wanted, -1 none

	// Current epoch (since the last switch).
	highestSN uint64    // highest incoming extended SN forwarded
	maxInTS   uint64    // highest incoming extended TS forwarded
	lastAt    time.Time // arrival of the last forwarded packet

	sr [MaxLayers]senderReport

	rtt        time.Duration
	keyReqAt   time.Time // last keyframe request
	keyReqSent bool      // keyReqAt is set for the current wait

	stats Stats
}

// New returns a Forwarder with no target: it forwards nothing until
// SetTarget.
func New(cfg Config) (*Forwarder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Forwarder{cfg: cfg, current: -1, target: -1}, nil
}

// SetTarget sets the layer the receiver should get, -1 for none. Pausing
// (-1) takes effect at once. Another layer takes effect at its next switch
// point; until then the current layer, if any, keeps flowing, and a
// keyframe request is due at once.
func (f *Forwarder) SetTarget(layer int) error {
	if layer < -1 || layer >= MaxLayers {
		return ErrBadLayer
	}
	if layer == f.target {
		return nil
	}
	f.target = layer
	f.keyReqSent = false
	if layer == -1 {
		f.current = -1
	}
	return nil
}

// Target returns the target layer, -1 for none.
func (f *Forwarder) Target() int { return f.target }

// Current returns the layer being forwarded, -1 for none.
func (f *Forwarder) Current() int { return f.current }

// SetRTT sets the receiver's round-trip time, which paces keyframe
// requests; 0 means unknown.
func (f *Forwarder) SetRTT(rtt time.Duration) { f.rtt = rtt }

// SetSenderReport records a layer's RTCP sender report (RFC 3550 §6.4.1):
// the NTP time (64-bit, 32.32 seconds) at which the layer's RTP clock read
// rtpTS. With references for both layers, a switch times the new layer
// from them (LiveKit processSourceSwitch, mediasoup tsOffset).
func (f *Forwarder) SetSenderReport(layer int, ntp uint64, rtpTS uint32) error {
	if layer < 0 || layer >= MaxLayers {
		return ErrBadLayer
	}
	f.sr[layer] = senderReport{ok: true, ntp: ntp, rtp: rtpTS}
	return nil
}

// Push decides the fate of one incoming packet that arrived at now. It
// returns the outgoing header, or one of the drop errors (ErrPaused,
// ErrWaitingKeyframe, ErrOtherLayer, ErrPadding, ErrBadLayer,
// rtpmunger.ErrDuplicate, ErrTooOld, ErrCacheMiss). Result.RequestKeyframe
// is set, on forwarded and dropped packets alike, when a keyframe request
// is due.
func (f *Forwarder) Push(now time.Time, p *Packet) (Result, error) {
	res, err := f.push(now, p)
	res.RequestKeyframe = f.KeyframeDue(now)
	return res, err
}

func (f *Forwarder) push(now time.Time, p *Packet) (Result, error) {
	if p.Layer < 0 || p.Layer >= MaxLayers {
		return Result{}, ErrBadLayer
	}
	var res Result
	if p.Layer == f.target && f.target != f.current && p.SwitchPoint && !p.PaddingOnly {
		f.switchTo(now, p)
		res.Switched = true
	}
	switch {
	case f.current == -1 && f.target == -1:
		f.stats.DropPaused++
		return Result{}, ErrPaused
	case f.current == -1:
		f.stats.DropWaiting++
		return Result{}, ErrWaitingKeyframe
	case p.Layer != f.current:
		f.stats.DropOtherLayer++
		return Result{}, ErrOtherLayer
	}
	if p.PaddingOnly {
		if err := f.munger.Drop(p.ExtSeq); err != nil {
			f.stats.DropMunger++
			return Result{}, err
		}
		f.stats.DropPadding++
		return Result{}, ErrPadding
	}
	out, err := f.munger.Forward(p.ExtSeq, p.ExtTS, false)
	if err != nil {
		f.stats.DropMunger++
		return Result{}, err
	}
	newest := res.Switched || int64(p.ExtSeq-f.highestSN) > 0
	if newest {
		f.highestSN = p.ExtSeq
	}
	if res.Switched || int64(p.ExtTS-f.maxInTS) > 0 {
		f.maxInTS = p.ExtTS
	}
	f.lastAt = now
	f.stats.Forwarded++
	res.Seq, res.TS, res.ExtSeq, res.ExtTS = out.Seq, out.TS, out.ExtSeq, out.ExtTS
	res.Marker = p.Marker
	if p.VP8 != nil {
		res.VP8 = true
		res.PictureID, res.TL0PICIDX, res.KeyIdx = f.vp8.munge(p.VP8, newest)
	}
	return res, nil
}

// switchTo makes the target layer current at its switch point p.
func (f *Forwarder) switchTo(now time.Time, p *Packet) {
	f.stats.Switches++
	if f.munger.Started() {
		f.munger.SwitchSource(p.ExtSeq, p.ExtTS, f.switchTicks(now, p))
	}
	if p.VP8 != nil {
		f.vp8.switchLayer(p.VP8)
	}
	f.current = p.Layer
	f.keyReqSent = false
}

// switchTicks returns how far (in RTP ticks) the switch point p comes
// after the last forwarded packet. From sender reports of both layers when
// they are known and agree with the wall clock within MaxSRDeviation: the
// capture-time distance between the two packets. Otherwise the wall-clock
// time since the last forwarded packet, and at least one frame interval.
// SwitchSource keeps it at least 1, so timestamps never go backwards.
func (f *Forwarder) switchTicks(now time.Time, p *Packet) uint64 {
	wall := ticksFor(now.Sub(f.lastAt), f.cfg.ClockRate)
	frame := ticksFor(f.cfg.FrameInterval, f.cfg.ClockRate)
	est := max(wall, frame)
	if f.current >= 0 {
		so, sn := f.sr[f.current], f.sr[p.Layer]
		if so.ok && sn.ok {
			// NTP difference in ticks: 32.32 seconds × clock rate.
			dNTP := int64(sn.ntp - so.ntp)
			ticks := mulShift32(dNTP, int64(f.cfg.ClockRate))
			ticks += int64(int32(uint32(p.ExtTS) - sn.rtp))
			ticks -= int64(int32(uint32(f.maxInTS) - so.rtp))
			dev := ticksFor(f.cfg.MaxSRDeviation, f.cfg.ClockRate)
			if ticks-wall <= dev && wall-ticks <= dev {
				f.stats.SRSwitches++
				return uint64(max(ticks, 1))
			}
		}
	}
	return uint64(est)
}

// ticksFor converts a duration to RTP ticks, rounded to the nearest (a
// 1/30 s frame is 3000 ticks at 90 kHz, not 2999); negative durations give
// 0, durations beyond a day a day's worth.
func ticksFor(d time.Duration, clockRate uint32) int64 {
	d = min(max(d, 0), 24*time.Hour)
	return (int64(d)*int64(clockRate) + int64(time.Second)/2) / int64(time.Second)
}

// mulShift32 returns a*b >> 32 for a signed 32.32 fixed-point a, without
// overflow for |a| below 2^47 (a day and a half) and b below 2^17.
func mulShift32(a, b int64) int64 {
	neg := a < 0
	if neg {
		a = -a
	}
	r := (a>>32)*b + (a&0xffffffff)*b>>32
	if neg {
		return -r
	}
	return r
}

// KeyframeDue reports whether a keyframe request for the target layer
// should be sent now, and if so counts it as sent. One is due while the
// receiver waits for a switch point of its target (at start, resume or a
// layer change): at once, then every clamp(2×RTT, KeyframeMinInterval,
// KeyframeMaxInterval) until it arrives. Callers with no packets flowing
// call it from a timer.
func (f *Forwarder) KeyframeDue(now time.Time) bool {
	if f.target == -1 || f.target == f.current {
		return false
	}
	if f.keyReqSent && now.Sub(f.keyReqAt) < f.keyframeInterval() {
		return false
	}
	f.keyReqAt, f.keyReqSent = now, true
	f.stats.KeyframeRequests++
	return true
}

func (f *Forwarder) keyframeInterval() time.Duration {
	if f.rtt <= 0 {
		return f.cfg.KeyframeUnknownRTT
	}
	return min(max(2*f.rtt, f.cfg.KeyframeMinInterval), f.cfg.KeyframeMaxInterval)
}

// Revert turns the Forward of extSeq into a drop, for a packet that was
// forwarded but could not be sent (see rtpmunger.Munger.Revert). The VP8
// state is not reverted: a picture ID gap remains only if a whole frame
// is reverted.
func (f *Forwarder) Revert(extSeq uint64) bool { return f.munger.Revert(extSeq) }

// Stats returns the counters.
func (f *Forwarder) Stats() Stats { return f.stats }

// DebugInfo returns the state for debug dumps.
func (f *Forwarder) DebugInfo() map[string]any {
	return map[string]any{
		"current":    f.current,
		"target":     f.target,
		"rtt_ms":     f.rtt.Milliseconds(),
		"highest_sn": f.highestSN,
		"max_in_ts":  f.maxInTS,
		"munger":     f.munger.DebugInfo(),
		"stats":      f.stats,
	}
}

package simulcast

import "github.com/parleyhq/parley/sfu/videocodec"

// vp8Munger keeps the VP8 picture ID, TL0PICIDX and key index continuous
// across layer switches, after livekit/livekit pkg/sfu/codecmunger/vp8.go,
// without its missing-picture caches: Parley forwards every packet of the
// current layer (no temporal-layer filtering), so one offset per layer
// epoch maps every packet of it, late ones included, and stragglers from
// before a switch are dropped by the sequence munger.
//
// Picture IDs are unwrapped to 64 bits against the highest one of the
// epoch, by the signed distance in the packet's own width (7 or 15 bits),
// so a 7-bit layer and a 15-bit layer can follow each other; out = in -
// offset, written back modulo the packet's width.
type vp8Munger struct {
	started bool // a VP8 packet has been forwarded

	// Current epoch (layer since the last switch).
	epoch     bool   // the epoch has seen a packet with a picture ID
	inPID     uint64 // highest extended incoming picture ID of the epoch
	pidOff    uint64
	tl0Off    uint8
	keyIdxOff uint8

	// Outgoing, newest values (of the highest picture ID forwarded).
	outPID    uint64
	outTL0    uint8
	outKeyIdx uint8
	hasTL0    bool
	hasKeyIdx bool
}

// switchLayer starts a new epoch at the switch point v: its values follow
// the last ones forwarded by one.
func (m *vp8Munger) switchLayer(v *videocodec.VP8) {
	m.epoch = false
	if !m.started {
		m.pidOff, m.tl0Off, m.keyIdxOff = 0, 0, 0
		return
	}
	if v.HasPictureID {
		m.startEpoch(v)
		m.pidOff = m.inPID - (m.outPID + 1)
	}
	if v.HasTL0PICIDX && m.hasTL0 {
		m.tl0Off = v.TL0PICIDX - (m.outTL0 + 1)
	}
	if v.HasKeyIdx && m.hasKeyIdx {
		m.keyIdxOff = (v.KeyIdx - (m.outKeyIdx + 1)) & 0x1f
	}
}

func (m *vp8Munger) startEpoch(v *videocodec.VP8) {
	m.epoch = true
	m.inPID = 1<<32 | uint64(v.PictureID)
}

// munge returns the outgoing values for a forwarded packet; newest says
// its sequence number is the highest of the epoch so far.
func (m *vp8Munger) munge(v *videocodec.VP8, newest bool) (pid uint16, tl0, keyIdx uint8) {
	if v.HasPictureID {
		if !m.epoch {
			m.startEpoch(v)
		}
		half := int64(v.PictureIDMask()/2 + 1)
		d := int64(v.PictureID-uint16(m.inPID)) & int64(v.PictureIDMask())
		if d >= half {
			d -= 2 * half
		}
		ext := m.inPID + uint64(d)
		if d > 0 {
			m.inPID = ext
		}
		out := ext - m.pidOff
		pid = uint16(out) & 0x7fff
		if !m.started || int64(out-m.outPID) > 0 {
			m.outPID = out
		}
	}
	tl0 = v.TL0PICIDX - m.tl0Off
	keyIdx = (v.KeyIdx - m.keyIdxOff) & 0x1f
	if newest || !m.started {
		if v.HasTL0PICIDX {
			m.outTL0, m.hasTL0 = tl0, true
		}
		if v.HasKeyIdx {
			m.outKeyIdx, m.hasKeyIdx = keyIdx, true
		}
	}
	m.started = true
	return pid, tl0, keyIdx
}

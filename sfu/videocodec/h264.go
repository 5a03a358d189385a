package videocodec

// H.264 NAL unit types (ITU-T H.264 Table 7-1) and RTP packet types (RFC
// 6184 §5.4).
const (
	NALSlice  = 1  // coded slice of a non-IDR picture
	NALIDR    = 5  // coded slice of an IDR picture
	NALSEI    = 6  // supplemental enhancement information
	NALSPS    = 7  // sequence parameter set
	NALPPS    = 8  // picture parameter set
	NALAUD    = 9  // access unit delimiter
	NALSTAPA  = 24 // single-time aggregation packet
	NALSTAPB  = 25
	NALMTAP16 = 26
	NALMTAP24 = 27
	NALFUA    = 28 // fragmentation unit
	NALFUB    = 29
)

// H264 describes an H.264 RTP payload in non-interleaved mode (RFC 6184
// packetization-mode 0 or 1: single NAL unit, STAP-A, FU-A).
type H264 struct {
	// Type is the packet's NAL unit type: 1-23 for a single NAL unit,
	// NALSTAPA or NALFUA.
	Type uint8
	// FirstNAL is the type of the first NAL unit the packet carries (the
	// fragmented one's for an FU-A).
	FirstNAL uint8
	// FUStart and FUEnd are the S and E bits of an FU-A.
	FUStart, FUEnd bool
	// IDR, SPS, PPS: the packet carries (a fragment of) an IDR slice, a
	// sequence or a picture parameter set.
	IDR, SPS, PPS bool
	// Keyframe: the packet carries an SPS or the start of an IDR slice, so
	// a decoder can start at this frame (LiveKit and libwebrtc treat an SPS
	// as the start of a key frame: encoders send SPS, PPS, IDR together).
	Keyframe bool
	// FrameStart: the first NAL unit starting in the packet may begin an
	// access unit (H.264 §7.4.1.2.3): an AUD, SEI, SPS or PPS, or the
	// first slice of a picture (first_mb_in_slice 0, §7.3.3). When the
	// parameter sets travel in an earlier packet, the packet with the
	// picture's first slice says so too: a frame may have more than one
	// such packet, but a packet in the middle of a picture never does.
	FrameStart bool
}

// ParseH264 parses an H.264 RTP payload. It returns ErrShort or
// ErrMalformed for a broken packet and ErrUnsupported for the interleaved
// mode's packet types (STAP-B, MTAP16, MTAP24, FU-B) and the reserved ones.
func ParseH264(payload []byte) (H264, error) {
	var h H264
	if len(payload) < 1 {
		return h, ErrShort
	}
	if payload[0]&0x80 != 0 { // forbidden_zero_bit
		return h, ErrMalformed
	}
	h.Type = payload[0] & 0x1f
	switch {
	case h.Type >= 1 && h.Type <= 23:
		h.FirstNAL = h.Type
		h.addNAL(payload, true)
	case h.Type == NALSTAPA:
		// RFC 6184 §5.7.1: [header] then 16-bit size + NAL unit, repeated.
		p := payload[1:]
		if len(p) == 0 {
			return H264{}, ErrShort
		}
		first := true
		for len(p) > 0 {
			if len(p) < 2 {
				return H264{}, ErrShort
			}
			n := int(p[0])<<8 | int(p[1])
			p = p[2:]
			if n == 0 {
				return H264{}, ErrMalformed
			}
			if n > len(p) {
				return H264{}, ErrShort
			}
			nal := p[:n]
			// Only single NAL units may be aggregated (§5.7).
			if t := nal[0] & 0x1f; nal[0]&0x80 != 0 || t == 0 || t > 23 {
				return H264{}, ErrMalformed
			}
			if first {
				h.FirstNAL = nal[0] & 0x1f
			}
			h.addNAL(nal, first)
			first = false
			p = p[n:]
		}
	case h.Type == NALFUA:
		// RFC 6184 §5.8: FU indicator, FU header |S|E|R|Type|, fragment.
		if len(payload) < 3 {
			return H264{}, ErrShort
		}
		fu := payload[1]
		h.FUStart, h.FUEnd = fu&0x80 != 0, fu&0x40 != 0
		if h.FUStart && h.FUEnd {
			return H264{}, ErrMalformed
		}
		t := fu & 0x1f
		if t == 0 || t > 23 {
			return H264{}, ErrMalformed
		}
		h.FirstNAL = t
		switch t {
		case NALIDR:
			h.IDR = true
		case NALSPS:
			h.SPS = true
		case NALPPS:
			h.PPS = true
		}
		if h.FUStart {
			h.Keyframe = h.IDR || h.SPS
			h.FrameStart = nalStartsAU(t, payload[2:])
		}
	default: // 0, 30, 31 reserved; 25-27, 29 interleaved mode
		return H264{}, ErrUnsupported
	}
	return h, nil
}

// addNAL records a whole NAL unit (header byte first).
func (h *H264) addNAL(nal []byte, first bool) {
	t := nal[0] & 0x1f
	switch t {
	case NALIDR:
		h.IDR, h.Keyframe = true, true
	case NALSPS:
		h.SPS, h.Keyframe = true, true
	case NALPPS:
		h.PPS = true
	}
	if first {
		h.FrameStart = nalStartsAU(t, nal[1:])
	}
}

// nalStartsAU reports whether a NAL unit of type t whose bytes after the
// header are rest begins an access unit.
func nalStartsAU(t uint8, rest []byte) bool {
	switch t {
	case NALAUD, NALSEI, NALSPS, NALPPS:
		return true
	case NALSlice, NALIDR:
		// first_mb_in_slice is ue(v): the code for 0 is the single bit 1.
		return len(rest) > 0 && rest[0]&0x80 != 0
	}
	return false
}

// SwitchPoint reports whether a simulcast receiver may switch to this
// packet's layer here: it starts an access unit with a sequence parameter
// set. An IDR slice alone is not enough: simulcast layers usually share
// SPS id 0 with different resolutions, so a receiver switched at the IDR
// would decode it with the old layer's SPS (libwebrtc's
// sps_pps_idr_is_h264_keyframe makes the same demand).
func (h *H264) SwitchPoint() bool { return h.SPS && h.FrameStart }

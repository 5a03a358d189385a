package videocodec

// VP8 describes the payload descriptor (RFC 7741 §4.2) at the start of a
// VP8 RTP payload and, on the first packet of a key frame, the frame size
// from the payload header (§4.3, RFC 6386 §9.1):
//
//	     0 1 2 3 4 5 6 7
//	    +-+-+-+-+-+-+-+-+
//	    |X|R|N|S|R| PID | (REQUIRED)
//	    +-+-+-+-+-+-+-+-+
//	X:  |I|L|T|K| RSV   | (OPTIONAL)
//	    +-+-+-+-+-+-+-+-+
//	I:  |M| PictureID   | (OPTIONAL, 7 bits, or 15 when M is set)
//	    +-+-+-+-+-+-+-+-+
//	    |   PictureID   |
//	    +-+-+-+-+-+-+-+-+
//	L:  |   TL0PICIDX   | (OPTIONAL)
//	    +-+-+-+-+-+-+-+-+
//	T/K:|TID|Y| KEYIDX  | (OPTIONAL)
//	    +-+-+-+-+-+-+-+-+
type VP8 struct {
	// HeaderLen is the length of the payload descriptor; the VP8 payload
	// starts there.
	HeaderLen int
	// N: a non-reference frame (may be discarded without affecting others).
	N bool
	// S: the packet starts a VP8 partition; PartitionID says which.
	S           bool
	PartitionID uint8

	HasPictureID bool
	// PictureID15 says the picture ID is 15 bits wide (M set); else 7.
	PictureID15  bool
	PictureID    uint16
	HasTL0PICIDX bool
	TL0PICIDX    uint8
	HasTID       bool
	TID          uint8 // temporal layer, 0-3
	Y            bool  // layer sync
	HasKeyIdx    bool
	KeyIdx       uint8 // 5 bits

	// Keyframe: the packet starts partition 0 of a key frame (the inverse
	// key frame bit P of the payload header is 0). Only this packet of a
	// key frame says so.
	Keyframe bool
	// Width and Height (14 bits each, scaling bits dropped) of a key frame,
	// when Keyframe and the start code 9d 01 2a is present; else 0.
	Width, Height uint16

	// Byte offsets of the optional fields in the payload, 0 when absent
	// (offset 0 is always the required first byte).
	pidOff, tl0Off, tkOff uint8
}

// ParseVP8 parses the payload descriptor of a VP8 RTP payload. It returns
// ErrShort when the descriptor is truncated or no VP8 payload follows it,
// ErrMalformed on a start of partition with a partition index above 7.
func ParseVP8(payload []byte) (VP8, error) {
	var v VP8
	if len(payload) < 1 {
		return v, ErrShort
	}
	b0 := payload[0]
	v.N = b0&0x20 != 0
	v.S = b0&0x10 != 0
	v.PartitionID = b0 & 0x07
	i := 1
	if b0&0x80 != 0 { // X
		if len(payload) < 2 {
			return VP8{}, ErrShort
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(payload) <= i {
				return VP8{}, ErrShort
			}
			v.HasPictureID = true
			v.pidOff = uint8(i)
			if payload[i]&0x80 != 0 {
				if len(payload) <= i+1 {
					return VP8{}, ErrShort
				}
				v.PictureID15 = true
				v.PictureID = uint16(payload[i]&0x7f)<<8 | uint16(payload[i+1])
				i += 2
			} else {
				v.PictureID = uint16(payload[i])
				i++
			}
		}
		if x&0x40 != 0 { // L
			if len(payload) <= i {
				return VP8{}, ErrShort
			}
			v.HasTL0PICIDX = true
			v.tl0Off = uint8(i)
			v.TL0PICIDX = payload[i]
			i++
		}
		if x&0x30 != 0 { // T or K
			if len(payload) <= i {
				return VP8{}, ErrShort
			}
			v.tkOff = uint8(i)
			tk := payload[i]
			if x&0x20 != 0 {
				v.HasTID = true
				v.TID = tk >> 6
				v.Y = tk&0x20 != 0
			}
			if x&0x10 != 0 {
				v.HasKeyIdx = true
				v.KeyIdx = tk & 0x1f
			}
			i++
		}
	}
	if len(payload) <= i {
		return VP8{}, ErrShort
	}
	v.HeaderLen = i
	if v.S && v.PartitionID == 0 && payload[i]&0x01 == 0 {
		v.Keyframe = true
		// RFC 6386 §9.1: 3-byte frame tag, start code, 2+2 bytes size.
		if h := payload[i:]; len(h) >= 10 && h[3] == 0x9d && h[4] == 0x01 && h[5] == 0x2a {
			v.Width = (uint16(h[6]) | uint16(h[7])<<8) & 0x3fff
			v.Height = (uint16(h[8]) | uint16(h[9])<<8) & 0x3fff
		}
	}
	return v, nil
}

// FrameStart reports whether the packet starts a frame (the start of
// partition 0).
func (v *VP8) FrameStart() bool { return v.S && v.PartitionID == 0 }

// SwitchPoint reports whether a simulcast receiver may switch to this
// packet's layer here: it starts a key frame.
func (v *VP8) SwitchPoint() bool { return v.Keyframe }

// PictureIDMask is the largest picture ID the packet's field can carry
// (0x7f or 0x7fff); picture IDs wrap modulo PictureIDMask+1.
func (v *VP8) PictureIDMask() uint16 {
	if v.PictureID15 {
		return 0x7fff
	}
	return 0x7f
}

// Rewrite writes the picture ID, TL0PICIDX and key index into payload, the
// (copy of the) payload v was parsed from, in place. Only fields present in
// the descriptor are written, each in its own width: pictureID is taken
// modulo 2^7 or 2^15, keyIdx modulo 2^5; the M bit, TID and Y are kept, so
// the packet never changes size. It returns ErrMismatch when payload is
// shorter than the descriptor.
func (v *VP8) Rewrite(payload []byte, pictureID uint16, tl0PicIdx, keyIdx uint8) error {
	if len(payload) < v.HeaderLen || v.HeaderLen == 0 {
		return ErrMismatch
	}
	if v.HasPictureID {
		if v.PictureID15 {
			payload[v.pidOff] = 0x80 | byte(pictureID>>8)&0x7f
			payload[v.pidOff+1] = byte(pictureID)
		} else {
			payload[v.pidOff] = byte(pictureID) & 0x7f
		}
		v.PictureID = pictureID & v.PictureIDMask()
	}
	if v.HasTL0PICIDX {
		payload[v.tl0Off] = tl0PicIdx
		v.TL0PICIDX = tl0PicIdx
	}
	if v.HasKeyIdx {
		payload[v.tkOff] = payload[v.tkOff]&^0x1f | keyIdx&0x1f
		v.KeyIdx = keyIdx & 0x1f
	}
	return nil
}

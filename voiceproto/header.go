package voiceproto

import "encoding/binary"

// Fixed RTP header constants (RFC 3550 §5.1).
const (
	// FixedHeaderLen is the length of the fixed RTP header.
	FixedHeaderLen = 12
	// ExtProfileOneByte is the RFC 8285 one-byte header extension profile
	// (0xBEDE) that Discord clients use.
	ExtProfileOneByte = 0xBEDE
	// PayloadTypeOpus is Discord's dynamic payload type for Opus.
	PayloadTypeOpus = 120
)

// Header is a parsed RTP header of a clear (decrypted) packet.
type Header struct {
	Version     uint8
	Padding     bool
	Extension   bool
	CC          uint8 // CSRC count
	Marker      bool
	PayloadType uint8
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32

	// ExtensionProfile and ExtensionLen (body bytes, 4*length words) are
	// set when Extension is true.
	ExtensionProfile uint16
	ExtensionLen     int

	// HeaderLen is the length of the whole header: 12 bytes, CSRCs, the
	// extension preamble and body. It equals PayloadStart.
	HeaderLen int
	// PayloadStart and PayloadEnd delimit the payload in the packet;
	// PayloadEnd excludes RTP padding.
	PayloadStart int
	PayloadEnd   int
}

// RTPSizeLen is the length of the clear part in the rtpsize modes: the
// fixed header, CSRCs and the 4-byte extension preamble.
func (h *Header) RTPSizeLen() int {
	n := FixedHeaderLen + 4*int(h.CC)
	if h.Extension {
		n += 4
	}
	return n
}

// ParseHeader parses and validates the header of a clear RTP packet: RTP
// version 2; CSRCs, extension and padding within the packet; a padding
// count of at least 1. It never panics and does not allocate.
func ParseHeader(rtp []byte) (Header, error) {
	var h Header
	if len(rtp) < FixedHeaderLen {
		return h, ErrShortPacket
	}
	b0, b1 := rtp[0], rtp[1]
	h.Version = b0 >> 6
	if h.Version != 2 {
		return h, ErrNotRTP
	}
	h.Padding = b0&0x20 != 0
	h.Extension = b0&0x10 != 0
	h.CC = b0 & 0x0F
	h.Marker = b1&0x80 != 0
	h.PayloadType = b1 & 0x7F
	h.Seq = binary.BigEndian.Uint16(rtp[2:4])
	h.Timestamp = binary.BigEndian.Uint32(rtp[4:8])
	h.SSRC = binary.BigEndian.Uint32(rtp[8:12])
	off := FixedHeaderLen + 4*int(h.CC)
	if h.Extension {
		if len(rtp) < off+4 {
			return h, ErrShortPacket
		}
		h.ExtensionProfile = binary.BigEndian.Uint16(rtp[off : off+2])
		h.ExtensionLen = 4 * int(binary.BigEndian.Uint16(rtp[off+2:off+4]))
		off += 4 + h.ExtensionLen
	}
	if len(rtp) < off {
		return h, ErrShortPacket
	}
	h.HeaderLen, h.PayloadStart, h.PayloadEnd = off, off, len(rtp)
	if h.Padding {
		if len(rtp) == off {
			return h, ErrBadPadding
		}
		pad := int(rtp[len(rtp)-1])
		if pad == 0 || pad > len(rtp)-off {
			return h, ErrBadPadding
		}
		h.PayloadEnd -= pad
	}
	return h, nil
}

// clearLen returns the length of the clear part of rtp (or of an encrypted
// packet, whose clear part is identical) for the mode: the rtpsize header
// or the 12-byte fixed header. It checks only what the clear part needs.
func clearLen(m modeID, pkt []byte) (int, error) {
	if len(pkt) < FixedHeaderLen {
		return 0, ErrShortPacket
	}
	if pkt[0]>>6 != 2 {
		return 0, ErrNotRTP
	}
	if !m.rtpsize() {
		return FixedHeaderLen, nil
	}
	n := FixedHeaderLen + 4*int(pkt[0]&0x0F)
	if pkt[0]&0x10 != 0 {
		n += 4
	}
	if len(pkt) < n {
		return 0, ErrShortPacket
	}
	return n, nil
}

// PutFixedHeader writes the 12-byte fixed RTP header of a packet Parley
// sends (RFC 3550 §5.1): version 2, no padding, no extension, no CSRCs.
// b must hold at least FixedHeaderLen bytes.
func PutFixedHeader(b []byte, marker bool, payloadType uint8, seq uint16, ts, ssrc uint32) {
	_ = b[FixedHeaderLen-1]
	b[0] = 0x80
	b[1] = payloadType & 0x7F
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], ts)
	binary.BigEndian.PutUint32(b[8:12], ssrc)
}

// PeekSSRC returns the SSRC of an RTP packet, encrypted or not (the fixed
// header is always clear), or false if pkt is shorter than the header.
func PeekSSRC(pkt []byte) (uint32, bool) {
	if len(pkt) < FixedHeaderLen {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt[8:12]), true
}

// Extension returns the body of the RFC 8285 header extension element id
// of a parsed RTP packet (pkt as parsed by ParseHeader into h), if present.
// One-byte (0xBEDE) and two-byte (0x100X) forms are read; a malformed
// extension block yields false. It does not allocate.
func Extension(pkt []byte, h *Header, id uint8) ([]byte, bool) {
	if !h.Extension || id == 0 {
		return nil, false
	}
	start := FixedHeaderLen + 4*int(h.CC) + 4
	end := start + h.ExtensionLen
	if end > len(pkt) || start > end {
		return nil, false
	}
	b := pkt[start:end]
	switch {
	case h.ExtensionProfile == ExtProfileOneByte:
		for i := 0; i < len(b); {
			if b[i] == 0 { // padding
				i++
				continue
			}
			eid, n := b[i]>>4, int(b[i]&0x0F)+1
			if eid == 15 || i+1+n > len(b) {
				return nil, false
			}
			if eid == id {
				return b[i+1 : i+1+n], true
			}
			i += 1 + n
		}
	case h.ExtensionProfile&0xFFF0 == 0x1000:
		for i := 0; i < len(b); {
			if b[i] == 0 {
				i++
				continue
			}
			if i+2 > len(b) {
				return nil, false
			}
			eid, n := b[i], int(b[i+1])
			if i+2+n > len(b) {
				return nil, false
			}
			if eid == id {
				return b[i+2 : i+2+n], true
			}
			i += 2 + n
		}
	}
	return nil, false
}

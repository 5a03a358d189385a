package dave

// Sender-side frame preparation per codec (dave.md §7; libdave
// cpp/src/dave/codec_utils.cpp). Each codec leaves the bytes its RTP
// packetizer/depacketizer needs in clear; some rewrite the frame (H.264 and
// H.265 normalise start codes to 4 bytes, AV1 drops OBUs and re-encodes
// sizes). The result is the interleaved frame plus its clear ranges.

// frameBuilder accumulates the interleaved (pre-encryption) frame and its
// unencrypted ranges. Its buffers are reused across frames.
type frameBuilder struct {
	buf    []byte
	ranges []span
}

func (b *frameBuilder) reset() {
	b.buf = b.buf[:0]
	b.ranges = b.ranges[:0]
}

// clearBytes appends bytes that stay unencrypted, extending the last range
// when it is adjacent.
func (b *frameBuilder) clearBytes(p []byte) {
	if len(p) == 0 {
		return
	}
	if k := len(b.ranges); k > 0 && b.ranges[k-1].off+b.ranges[k-1].size == len(b.buf) {
		b.ranges[k-1].size += len(p)
	} else {
		b.ranges = append(b.ranges, span{len(b.buf), len(p)})
	}
	b.buf = append(b.buf, p...)
}

// encBytes appends bytes to be encrypted.
func (b *frameBuilder) encBytes(p []byte) { b.buf = append(b.buf, p...) }

// build prepares frame for codec into b. It returns false when the codec
// needs no ranges or the frame does not parse; the caller then encrypts the
// original frame whole (libdave's fallback).
func (b *frameBuilder) build(codec Codec, frame []byte) bool {
	b.reset()
	var ok bool
	switch codec {
	case CodecVP8:
		ok = b.vp8(frame)
	case CodecH264:
		ok = b.h26x(frame, false)
	case CodecH265:
		ok = b.h26x(frame, true)
	case CodecAV1:
		ok = b.av1(frame)
	default: // Opus, VP9, unknown: whole frame encrypted
		return false
	}
	if !ok || len(b.buf) == 0 {
		b.reset()
		return false
	}
	return true
}

// vp8 keeps the payload header clear: 10 bytes on key frames (inverse key
// frame bit P, bit 0 of byte 0, is 0), else 1 (RFC 7741 §4.3).
func (b *frameBuilder) vp8(frame []byte) bool {
	if len(frame) == 0 {
		return false
	}
	n := 1
	if frame[0]&0x01 == 0 {
		n = 10
	}
	n = min(n, len(frame))
	b.clearBytes(frame[:n])
	b.encBytes(frame[n:])
	return true
}

var longStartCode = []byte{0, 0, 0, 1}

// nextNALU finds the next Annex B start code at or after from and returns
// the index of the NAL unit after it and the start code length (3 or 4).
// Like libdave's FindNextH26XNaluIndex it does not look at the last three
// bytes as a start-code position.
func nextNALU(buf []byte, from int) (start, scLen int, ok bool) {
	for i := from; i+3 < len(buf); {
		switch {
		case buf[i+2] > 1:
			i += 3
		case buf[i+2] == 1:
			if buf[i] == 0 && buf[i+1] == 0 {
				if i >= 1 && buf[i-1] == 0 {
					return i + 3, 4, true
				}
				return i + 3, 3, true
			}
			i += 3
		default:
			i++
		}
	}
	return 0, 0, false
}

// h26x walks Annex B NAL units. Every start code is rewritten to 4 bytes
// (WebRTC's receiver does the same). H.264 slice (1) and IDR (5) NALs keep
// their header through the exp-Golomb pps_id clear; H.265 VCL NALs (type
// < 32) keep their 2-byte header clear; all other NALs stay fully clear.
func (b *frameBuilder) h26x(frame []byte, h265 bool) bool {
	hdr := 1
	if h265 {
		hdr = 2
	}
	if len(frame) < 3+hdr {
		return false
	}
	start, sc, ok := nextNALU(frame, 0)
	if !ok || start != sc { // must begin with a start code
		return false
	}
	for ok && start < len(frame) {
		nextStart, nextSC, nextOK := nextNALU(frame, start)
		end := len(frame)
		if nextOK {
			end = nextStart - nextSC
		}
		nal := frame[start:end]
		if len(nal) == 0 { // start code directly followed by another
			start, ok = nextStart, nextOK
			continue
		}
		b.clearBytes(longStartCode)
		clearLen := len(nal)
		if h265 {
			if t := (nal[0] & 0x7E) >> 1; t < 32 {
				clearLen = min(hdr, len(nal))
			}
		} else if t := nal[0] & 0x1F; t == 1 || t == 5 {
			clearLen = min(hdr+bytesCoveringH264PPS(nal[hdr:]), len(nal))
		}
		b.clearBytes(nal[:clearLen])
		b.encBytes(nal[clearLen:])
		start, ok = nextStart, nextOK
	}
	return true
}

// bytesCoveringH264PPS returns how many bytes of a slice header cover its
// first three exp-Golomb values (first_mb_in_slice, slice_type,
// pic_parameter_set_id; H.264 §7.3.3), skipping emulation-prevention bytes
// (00 00 03) as libdave does. 0 means an implausible value (32+ leading
// zeros). The result may exceed len(p); callers clamp.
func bytesCoveringH264PPS(p []byte) int {
	bit, zeros, parsed := 0, 0, 0
	for bit < len(p)*8 && parsed < 3 {
		bi, by := bit%8, bit/8
		v := p[by]
		if bi == 0 && by >= 2 && v == 3 && p[by-1] == 0 && p[by-2] == 0 {
			bit += 8
			continue
		}
		if v&(1<<(7-bi)) == 0 {
			zeros++
			bit++
			if zeros >= 32 {
				return 0
			}
		} else {
			parsed++
			bit += 1 + zeros
			zeros = 0
		}
	}
	return bit/8 + 1
}

// av1 keeps each OBU header, extension byte and minimally re-encoded LEB128
// size clear and encrypts the payload; temporal delimiter (2), tile list (8)
// and padding (15) OBUs are dropped, and the last OBU loses its size field
// (has_size bit cleared) so the footer can follow it.
func (b *frameBuilder) av1(frame []byte) bool {
	const (
		hasExt  = 0b0000_0100
		hasSize = 0b0000_0010
	)
	for i := 0; i < len(frame); {
		hdrIdx := i
		h := frame[i]
		i++
		ext := h&hasExt != 0
		sized := h&hasSize != 0
		typ := (h >> 3) & 0x0F
		if ext {
			i++
		}
		if i >= len(frame) {
			return false
		}
		var size uint64
		if sized {
			v, n, err := readULEB128(frame[i:])
			if err != nil || n > 8 {
				return false
			}
			size = v
			i += n
		} else {
			size = uint64(len(frame) - i)
		}
		if size > uint64(len(frame)-i) {
			return false
		}
		payload := frame[i : i+int(size)]
		i += int(size)
		if typ == 2 || typ == 8 || typ == 15 {
			continue
		}
		last := i == len(frame) && sized
		if last {
			h &^= hasSize
		}
		b.clearBytes([]byte{h})
		if ext {
			b.clearBytes(frame[hdrIdx+1 : hdrIdx+2])
		}
		if sized && !last {
			var tmp [maxLEB128Len]byte
			b.clearBytes(appendULEB128(tmp[:0], size))
		}
		b.encBytes(payload)
	}
	return true
}

// validH26x reports whether an encrypted H.264/H.265 frame (interleaved part
// plus footer) is free of start codes in every encrypted section, the
// footer, and the two bytes around each boundary (libdave
// ValidateEncryptedFrame); otherwise the packetizer would split the frame
// there.
func validH26x(frame []byte, ranges []span) bool {
	const pad = 2
	encStart := 0
	for _, r := range ranges {
		if encStart == r.off {
			encStart += r.size
			continue
		}
		s := encStart - min(encStart, pad)
		e := min(r.off+pad, len(frame))
		if _, _, ok := nextNALU(frame[s:e], 0); ok {
			return false
		}
		encStart = r.off + r.size
	}
	if encStart == len(frame) {
		return true
	}
	s := encStart - min(encStart, pad)
	_, _, ok := nextNALU(frame[s:], 0)
	return !ok
}

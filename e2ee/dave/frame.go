package dave

import "math"

// Frame layout constants (dave.md §7):
//
//	[ interleaved frame ][ tag 8 B ][ ULEB128 nonce ][ ULEB128 (offset, size)* ][ u8 supp_size ][ FA FA ]
//	supp_size = 8 + len(nonce) + len(ranges) + 1 + 2
const (
	// TagSize is the truncated AES-GCM tag length.
	TagSize = 8
	// MarkerSize is the length of the trailing FA FA marker.
	MarkerSize = 2
	// MinSupplementalSize is tag + size byte + marker (dave.md §7's lower
	// bound; a real footer also carries at least one nonce byte).
	MinSupplementalSize = TagSize + 1 + MarkerSize
	// MaxOverhead bounds the bytes Encrypt adds to a frame: a footer can
	// never exceed the 255 its size byte can describe.
	MaxOverhead = math.MaxUint8
	// maxRanges is the most (offset, size) pairs a footer can hold: each
	// pair takes at least 2 bytes of the 255-12 left after tag, one nonce
	// byte, size byte and marker.
	maxRanges = (math.MaxUint8 - MinSupplementalSize - 1) / 2
)

// Marker is the last two bytes of every DAVE-encrypted frame.
const Marker uint16 = 0xFAFA

// OpusSilence is the Opus silence frame, which DAVE lets pass unencrypted in
// both directions (dave.md §4, §7; voice-protocol.md).
var OpusSilence = [3]byte{0xF8, 0xFF, 0xFE}

// span is one unencrypted range of the interleaved frame.
type span struct{ off, size int }

// frameInfo is a parsed DAVE frame.
type frameInfo struct {
	interleaved []byte // the frame without footer
	tag         []byte // TagSize bytes
	nonce       uint32 // truncated nonce
}

// parseFrame validates frame per dave.md §7 and returns its parts, appending
// its unencrypted ranges to ranges (pass a slice with capacity maxRanges to
// avoid allocation). Checks: size >= 11, marker present, 11 <= supp_size <
// size, the nonce parses and fits 32 bits, ranges decode as complete pairs,
// are ascending, non-overlapping and inside the interleaved part.
func parseFrame(frame []byte, ranges []span) (frameInfo, []span, error) {
	n := len(frame)
	if n < MinSupplementalSize {
		return frameInfo{}, ranges, ErrFrameTooShort
	}
	if frame[n-1] != 0xFA || frame[n-2] != 0xFA {
		return frameInfo{}, ranges, ErrNoMarker
	}
	supp := int(frame[n-3])
	if supp < MinSupplementalSize || supp >= n {
		return frameInfo{}, ranges, ErrSupplementalSize
	}
	body := n - supp
	meta := frame[body+TagSize : n-3] // nonce ‖ ranges
	nonce, nn, err := readULEB128(meta)
	if err != nil || nonce > math.MaxUint32 {
		return frameInfo{}, ranges, ErrNonce
	}
	meta = meta[nn:]
	end := 0 // end of the previous range
	for len(meta) > 0 {
		off, k, err := readULEB128(meta)
		if err != nil {
			return frameInfo{}, ranges, ErrRanges
		}
		meta = meta[k:]
		size, k, err := readULEB128(meta)
		if err != nil {
			return frameInfo{}, ranges, ErrRanges
		}
		meta = meta[k:]
		if off < uint64(end) || off > uint64(body) || size > uint64(body)-off {
			return frameInfo{}, ranges, ErrRanges
		}
		ranges = append(ranges, span{int(off), int(size)})
		end = int(off + size)
	}
	return frameInfo{
		interleaved: frame[:body],
		tag:         frame[body : body+TagSize],
		nonce:       uint32(nonce),
	}, ranges, nil
}

// CheckFrame reports whether frame is a well-formed DAVE frame, without
// keys (dave.md §7 "Frame check"): size, FA FA marker, supplemental size,
// nonce and unencrypted ranges. The SFU uses it to never forward malformed
// or non-DAVE media while DAVE is on. It does not allocate. The Opus
// silence frame is not a DAVE frame; check IsOpusSilence first.
//
// Errors: ErrFrameTooShort, ErrNoMarker, ErrSupplementalSize, ErrNonce,
// ErrRanges.
func CheckFrame(frame []byte) error {
	var buf [maxRanges]span
	_, _, err := parseFrame(frame, buf[:0])
	return err
}

// IsProtocolFrame reports whether CheckFrame accepts frame.
func IsProtocolFrame(frame []byte) bool { return CheckFrame(frame) == nil }

// HasMarker reports whether frame ends with the FA FA marker: the cheap test
// for "frames the SFU must not forward to receivers that do not speak DAVE"
// during a transition (dave.md §4).
func HasMarker(frame []byte) bool {
	n := len(frame)
	return n >= MarkerSize && frame[n-1] == 0xFA && frame[n-2] == 0xFA
}

// IsOpusSilence reports whether frame is exactly the Opus silence frame
// F8 FF FE, which always passes unencrypted.
func IsOpusSilence(frame []byte) bool {
	return len(frame) == 3 && frame[0] == 0xF8 && frame[1] == 0xFF && frame[2] == 0xFE
}

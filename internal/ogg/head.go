package ogg

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Head is the OpusHead identification header (RFC 7845 §5.1).
type Head struct {
	Version         uint8
	Channels        uint8
	PreSkip         uint16
	InputSampleRate uint32
	OutputGain      int16
	MappingFamily   uint8
}

// DefaultHead describes the streams Parley writes: stereo, 48 kHz, no
// pre-skip (packets are copied, not encoded, so there is no encoder delay to
// hide).
var DefaultHead = Head{Version: 1, Channels: 2, InputSampleRate: 48000}

var (
	opusHeadMagic = []byte("OpusHead")
	opusTagsMagic = []byte("OpusTags")
)

func (h Head) marshal() []byte {
	b := make([]byte, 19)
	copy(b, opusHeadMagic)
	b[8] = h.Version
	b[9] = h.Channels
	binary.LittleEndian.PutUint16(b[10:], h.PreSkip)
	binary.LittleEndian.PutUint32(b[12:], h.InputSampleRate)
	binary.LittleEndian.PutUint16(b[16:], uint16(h.OutputGain))
	b[18] = h.MappingFamily
	return b
}

func parseHead(p []byte) (Head, error) {
	if !bytes.HasPrefix(p, opusHeadMagic) {
		return Head{}, ErrNotOpus
	}
	if len(p) < 19 {
		return Head{}, fmt.Errorf("%w: %d bytes", ErrBadHead, len(p))
	}
	h := Head{
		Version:         p[8],
		Channels:        p[9],
		PreSkip:         binary.LittleEndian.Uint16(p[10:]),
		InputSampleRate: binary.LittleEndian.Uint32(p[12:]),
		OutputGain:      int16(binary.LittleEndian.Uint16(p[16:])),
		MappingFamily:   p[18],
	}
	if h.Version>>4 != 0 || h.Channels == 0 {
		return Head{}, fmt.Errorf("%w: version %d, %d channels", ErrBadHead, h.Version, h.Channels)
	}
	return h, nil
}

func marshalTags(vendor string) []byte {
	b := make([]byte, 0, 16+len(vendor))
	b = append(b, opusTagsMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	return binary.LittleEndian.AppendUint32(b, 0) // no user comments
}

// PacketSamples returns the number of 48 kHz samples an Opus packet holds,
// from its TOC byte and frame count (RFC 6716 §3.1), or 0 if the packet is
// empty or malformed.
func PacketSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var frame int // samples per frame at 48 kHz
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // Hybrid: 10, 20 ms
		frame = [2]int{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int{120, 240, 480, 960}[cfg&3]
	}
	switch toc & 3 {
	case 0:
		return frame
	case 1, 2:
		return 2 * frame
	default:
		if len(p) < 2 {
			return 0
		}
		n := int(p[1] & 0x3f)
		if n == 0 || n*frame > 5760 { // at most 120 ms per packet
			return 0
		}
		return n * frame
	}
}

package dave

import "strconv"

// Codec selects the sender-side unencrypted ranges (dave.md §7 table).
// Decryptors ignore the codec. Values match libdave and davey.
type Codec uint8

// Codecs.
const (
	CodecUnknown Codec = iota // encrypted whole, like Opus
	CodecOpus
	CodecVP8
	CodecVP9
	CodecH264
	CodecH265
	CodecAV1
)

// String returns the codec name.
func (c Codec) String() string {
	switch c {
	case CodecUnknown:
		return "unknown"
	case CodecOpus:
		return "opus"
	case CodecVP8:
		return "vp8"
	case CodecVP9:
		return "vp9"
	case CodecH264:
		return "h264"
	case CodecH265:
		return "h265"
	case CodecAV1:
		return "av1"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

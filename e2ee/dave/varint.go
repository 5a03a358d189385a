package dave

// MLS variable-length vector headers (RFC 9420 §2.1.2, dave.md §2), used by
// the binary opcodes 25 and 27.

// maxVarint is the largest length a 4-byte MLS varint can carry.
const maxVarint = 1<<30 - 1

// readVarint decodes an MLS varint from the start of b: 1 byte for 0-63,
// 2 bytes (top bits 01) to 16383, 4 bytes (top bits 10) to 2^30-1. Top bits
// 11 and non-minimal encodings are ErrVarint.
func readVarint(b []byte) (v int, n int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrShortMessage
	}
	switch b[0] >> 6 {
	case 0:
		return int(b[0]), 1, nil
	case 1:
		if len(b) < 2 {
			return 0, 0, ErrShortMessage
		}
		v = int(b[0]&0x3f)<<8 | int(b[1])
		if v < 64 {
			return 0, 0, ErrVarint
		}
		return v, 2, nil
	case 2:
		if len(b) < 4 {
			return 0, 0, ErrShortMessage
		}
		v = int(b[0]&0x3f)<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if v < 1<<14 {
			return 0, 0, ErrVarint
		}
		return v, 4, nil
	default:
		return 0, 0, ErrVarint
	}
}

// appendVarint appends the minimal MLS varint for v (0 <= v <= 2^30-1).
func appendVarint(dst []byte, v int) []byte {
	switch {
	case v < 0 || v > maxVarint:
		panic("dave: varint out of range") // callers bound lengths first
	case v < 1<<6:
		return append(dst, byte(v))
	case v < 1<<14:
		return append(dst, 0x40|byte(v>>8), byte(v))
	default:
		return append(dst, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

// readVector reads one <V> vector from b and returns its content and the
// total bytes consumed. The content aliases b.
func readVector(b []byte) (content []byte, n int, err error) {
	l, hn, err := readVarint(b)
	if err != nil {
		return nil, 0, err
	}
	if len(b)-hn < l {
		return nil, 0, ErrShortMessage
	}
	return b[hn : hn+l], hn + l, nil
}

// appendVector appends <V>content.
func appendVector(dst, content []byte) []byte {
	return append(appendVarint(dst, len(content)), content...)
}

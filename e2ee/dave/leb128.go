package dave

// ULEB128 as used in the DAVE frame footer (dave.md §7): 7 bits per byte,
// least significant group first, high bit set on every byte but the last.

// maxLEB128Len is the longest encoding of a uint64.
const maxLEB128Len = 10

// readULEB128 decodes one ULEB128 value from the start of b and returns it
// with the number of bytes consumed. Non-minimal encodings are accepted (as
// libdave does); truncation and values above 2^64-1 are ErrLEB128.
func readULEB128(b []byte) (v uint64, n int, err error) {
	var shift uint
	for i := 0; i < len(b) && i < maxLEB128Len; i++ {
		c := b[i]
		if i == maxLEB128Len-1 && c > 1 {
			return 0, 0, ErrLEB128
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, ErrLEB128
}

// sizeULEB128 is the length of the minimal encoding of v.
func sizeULEB128(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendULEB128 appends the minimal encoding of v to dst.
func appendULEB128(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

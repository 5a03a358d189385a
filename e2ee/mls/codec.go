package mls

import (
	"encoding/binary"
	"fmt"
)

// maxVarint is the largest length an MLS variable-length integer can carry
// (RFC 9420 §2.1.2: 30 bits).
const maxVarint = 1<<30 - 1

// appendVarint appends n in the minimal MLS varint encoding. n must be at
// most maxVarint; callers never build vectors that large.
func appendVarint(b []byte, n int) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, 0x40|byte(n>>8), byte(n))
	default:
		return append(b, 0x80|byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// readVarint decodes one MLS varint from b, returning the value and the
// number of bytes consumed. Non-minimal encodings and the reserved 0b11
// prefix are errors.
func readVarint(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	switch b[0] >> 6 {
	case 0:
		return int(b[0]), 1, nil
	case 1:
		if len(b) < 2 {
			return 0, 0, ErrTruncated
		}
		n := int(binary.BigEndian.Uint16(b) & 0x3fff)
		if n < 1<<6 {
			return 0, 0, fmt.Errorf("%w: non-minimal varint", ErrMalformed)
		}
		return n, 2, nil
	case 2:
		if len(b) < 4 {
			return 0, 0, ErrTruncated
		}
		n := int(binary.BigEndian.Uint32(b) & 0x3fffffff)
		if n < 1<<14 {
			return 0, 0, fmt.Errorf("%w: non-minimal varint", ErrMalformed)
		}
		return n, 4, nil
	default:
		return 0, 0, fmt.Errorf("%w: varint prefix 0b11", ErrMalformed)
	}
}

// writer builds TLS-presentation-language encodings (RFC 8446 §3 with the
// MLS varint vector headers of RFC 9420 §2.1.2).
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(v []byte) { w.b = append(w.b, v...) }

// bytes writes v as opaque<V>.
func (w *writer) bytes(v []byte) {
	w.b = appendVarint(w.b, len(v))
	w.b = append(w.b, v...)
}

// vec writes whatever f writes as a <V> vector. f writes in place after a
// one-byte header, which is widened afterwards if the content needs it, so
// nested vectors cost no allocation and at most a short move each.
func (w *writer) vec(f func(w *writer)) {
	start := len(w.b)
	w.b = append(w.b, 0)
	f(w)
	n := len(w.b) - start - 1
	if n < 1<<6 {
		w.b[start] = byte(n)
		return
	}
	hdr := appendVarint(make([]byte, 0, 4), n)
	w.b = append(w.b, hdr[1:]...)
	copy(w.b[start+len(hdr):], w.b[start+1:start+1+n])
	copy(w.b[start:], hdr)
}

// optional writes the presence byte and, if present, calls f.
func (w *writer) optional(present bool, f func(w *writer)) {
	if !present {
		w.u8(0)
		return
	}
	w.u8(1)
	f(w)
}

// reader decodes TLS-presentation-language data with bounds checks. Errors
// are sticky: after the first failure every read returns zero values and
// err keeps the first error, so decoders check err once at the end.
type reader struct {
	b   []byte
	err error
}

func newReader(b []byte) *reader { return &reader{b: b} }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) failf(format string, args ...any) {
	r.fail(fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...))
}

// empty reports whether all input was consumed (or an error occurred).
func (r *reader) empty() bool { return len(r.b) == 0 }

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(ErrTruncated)
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) u16() uint16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint16(v)
}

func (r *reader) u32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (r *reader) u64() uint64 {
	v := r.take(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// bytes reads opaque<V>. The result aliases the input; it is never nil on
// success (an empty vector yields an empty, non-nil slice).
func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, k, err := readVarint(r.b)
	if err != nil {
		r.fail(err)
		return nil
	}
	r.b = r.b[k:]
	return r.take(n)
}

// vec reads a <V> vector and returns a reader over its content.
func (r *reader) vec() *reader {
	v := r.bytes()
	return &reader{b: v, err: r.err}
}

// each reads a <V> vector and calls f until its content is consumed. f must
// consume at least one byte per call or fail.
func (r *reader) each(f func(r *reader)) {
	sub := r.vec()
	for sub.err == nil && !sub.empty() {
		before := len(sub.b)
		f(sub)
		if sub.err == nil && len(sub.b) == before {
			sub.failf("vector element consumed no bytes")
		}
	}
	if sub.err != nil {
		r.fail(sub.err)
	}
}

// optional reads the presence byte of optional<T>.
func (r *reader) optional() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.failf("optional presence byte")
		return false
	}
}

// finish returns the sticky error, or ErrTrailingData if input remains.
func (r *reader) finish() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes", ErrTrailingData, len(r.b))
	}
	return nil
}

// u16s encodes a vector of uint16 values.
func (w *writer) u16s(v []uint16) {
	w.vec(func(w *writer) {
		for _, x := range v {
			w.u16(x)
		}
	})
}

func (r *reader) u16s() []uint16 {
	var out []uint16
	r.each(func(r *reader) { out = append(out, r.u16()) })
	return out
}

func (w *writer) u32s(v []uint32) {
	w.vec(func(w *writer) {
		for _, x := range v {
			w.u32(x)
		}
	})
}

func (r *reader) u32s() []uint32 {
	var out []uint32
	r.each(func(r *reader) { out = append(out, r.u32()) })
	return out
}

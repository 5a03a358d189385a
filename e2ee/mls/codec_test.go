package mls

import (
	"bytes"
	"fmt"
	"testing"
)

// TestWriterVec checks in-place vector headers across the 1-, 2- and
// 4-byte varint boundaries, nested and after a prefix.
func TestWriterVec(t *testing.T) {
	for _, n := range []int{0, 1, 62, 63, 64, 65, 100, 16382, 16383, 16384, 70000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			inner := bytes.Repeat([]byte{0xa5}, n)
			var w writer
			w.u8(7)
			w.vec(func(w *writer) {
				w.raw(inner)
				w.vec(func(w *writer) { w.raw(inner) })
			})
			w.u8(9)

			var want writer
			want.u8(7)
			var mid []byte
			mid = append(mid, inner...)
			mid = appendVarint(mid, n)
			mid = append(mid, inner...)
			want.bytes(mid)
			want.u8(9)
			eq(t, "encoding", w.b, want.b)

			r := newReader(w.b)
			r.u8()
			sub := r.vec()
			eq(t, "outer prefix", sub.take(n), inner)
			eq(t, "inner", sub.bytes(), inner)
			mustNoErr(t, sub.finish())
			if r.u8() != 9 {
				t.Fatal("trailer")
			}
			mustNoErr(t, r.finish())
		})
	}
}

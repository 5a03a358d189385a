package voiceproto

import (
	"bytes"
	"testing"
)

// FuzzOpen: Open never panics on arbitrary input in any mode, and what it
// returns on success re-seals and re-opens to the same packet.
func FuzzOpen(f *testing.F) {
	ciphers := make([]*Cipher, len(allModes))
	for i, m := range allModes {
		ciphers[i] = mustNew(f, m)
		for _, s := range shapes[:5] {
			w, _ := ciphers[i].Seal(nil, s.p.build(), [4]byte{1, 2, 3, 4})
			f.Add(uint8(i), w)
		}
	}
	f.Fuzz(func(t *testing.T, mi uint8, b []byte) {
		c := ciphers[int(mi)%len(ciphers)]
		out, err := c.Open(nil, b)
		if err != nil {
			return
		}
		in := append([]byte(nil), b...)
		if o2, err := c.Open(in[:0], in); err != nil || !bytes.Equal(o2, out) {
			t.Fatalf("in-place Open disagrees: %v", err)
		}
		w, err := c.Seal(nil, out, [4]byte{5, 6, 7, 8})
		if err != nil {
			t.Fatalf("re-seal: %v", err)
		}
		if o3, err := c.Open(nil, w); err != nil || !bytes.Equal(o3, out) {
			t.Fatalf("re-open: %v", err)
		}
	})
}

// FuzzSealOpen: any input Seal accepts round-trips through Open, in place
// or not.
func FuzzSealOpen(f *testing.F) {
	ciphers := make([]*Cipher, len(allModes))
	for i, m := range allModes {
		ciphers[i] = mustNew(f, m)
	}
	for _, s := range shapes {
		f.Add(uint8(0), s.p.build(), []byte{1, 2, 3, 4})
	}
	f.Fuzz(func(t *testing.T, mi uint8, rtp []byte, nb []byte) {
		c := ciphers[int(mi)%len(ciphers)]
		var n [4]byte
		copy(n[:], nb)
		w, err := c.Seal(nil, rtp, n)
		if err != nil {
			return
		}
		if len(w) != len(rtp)+c.Overhead() {
			t.Fatalf("len %d, want %d", len(w), len(rtp)+c.Overhead())
		}
		out, err := c.Open(nil, w)
		if err != nil || !bytes.Equal(out, rtp) {
			t.Fatalf("round trip: %v", err)
		}
		buf := make([]byte, len(rtp), len(rtp)+c.Overhead())
		copy(buf, rtp)
		w2, err := c.Seal(buf[:0], buf, n)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := c.Open(w2[:0], w2); err != nil || !bytes.Equal(out, rtp) {
			t.Fatalf("in-place round trip: %v", err)
		}
	})
}

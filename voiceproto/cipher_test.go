package voiceproto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/secretbox"
)

func mustNew(t testing.TB, mode string) *Cipher {
	t.Helper()
	c, err := NewCipher(mode, testKey)
	if err != nil {
		t.Fatalf("NewCipher(%q): %v", mode, err)
	}
	return c
}

func TestNew(t *testing.T) {
	for _, m := range allModes {
		c := mustNew(t, m)
		if c.Mode() != m {
			t.Errorf("Mode() = %q, want %q", c.Mode(), m)
		}
	}
	tests := []struct {
		name string
		mode string
		key  []byte
		want error
	}{
		{"unknown", "aead_aes128_gcm", testKey, ErrUnknownMode},
		{"empty_mode", "", testKey, ErrUnknownMode},
		{"case", "AEAD_AES256_GCM_RTPSIZE", testKey, ErrUnknownMode},
		{"short_key", ModeAES256GCMRTPSize, testKey[:31], ErrKeySize},
		{"long_key", ModeXChaCha20RTPSize, append(testKey, 0), ErrKeySize},
		{"nil_key", ModeXSalsa20, nil, ErrKeySize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCipher(tt.mode, tt.key); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOverhead(t *testing.T) {
	want := map[string]int{
		ModeAES256GCMRTPSize: 20, ModeXChaCha20RTPSize: 20, ModeXSalsa20: 16,
		ModeXSalsa20Suffix: 40, ModeXSalsa20Lite: 20, ModeXSalsa20LiteRTPSize: 20, ModeAES256GCM: 20,
	}
	for _, m := range allModes {
		if got := mustNew(t, m).Overhead(); got != want[m] {
			t.Errorf("%s: Overhead() = %d, want %d", m, got, want[m])
		}
	}
}

func TestModes(t *testing.T) {
	cur := Modes(false)
	if fmt.Sprint(cur) != fmt.Sprint([]string{ModeAES256GCMRTPSize, ModeXChaCha20RTPSize}) {
		t.Fatalf("Modes(false) = %v", cur)
	}
	all := Modes(true)
	if len(all) != len(allModes) || all[0] != ModeAES256GCMRTPSize || all[1] != ModeXChaCha20RTPSize {
		t.Fatalf("Modes(true) = %v", all)
	}
	seen := map[string]bool{}
	for i, m := range all {
		if seen[m] {
			t.Errorf("duplicate %s", m)
		}
		seen[m] = true
		if !Supported(m) {
			t.Errorf("%s not supported", m)
		}
		if IsLegacy(m) != (i >= 2) {
			t.Errorf("IsLegacy(%s) = %v", m, IsLegacy(m))
		}
	}
	cur[0] = "x"
	if Modes(false)[0] != ModeAES256GCMRTPSize {
		t.Fatal("Modes shares its slice")
	}
	if IsLegacy("nope") || Supported("nope") {
		t.Fatal("unknown mode reported legacy or supported")
	}
}

// clearLenFor is the clear prefix of a sealed packet per the spec.
func clearLenFor(mode string, p pkt) int {
	switch mode {
	case ModeAES256GCMRTPSize, ModeXChaCha20RTPSize, ModeXSalsa20LiteRTPSize:
		return p.rtpsizeLen()
	}
	return 12
}

// expectedSeal builds the wire packet straight from the primitives, per
// voice-protocol.md §3.3. Suffix mode is random and returns nil.
func expectedSeal(t *testing.T, mode string, p pkt, nonce [4]byte) []byte {
	t.Helper()
	rtp := p.build()
	hl := clearLenFor(mode, p)
	var n24 [24]byte
	copy(n24[:], nonce[:])
	out := append([]byte(nil), rtp[:hl]...)
	switch mode {
	case ModeAES256GCMRTPSize, ModeAES256GCM:
		blk, _ := aes.NewCipher(testKey)
		g, _ := cipher.NewGCM(blk)
		out = g.Seal(out, n24[:12], rtp[hl:], rtp[:hl])
		return append(out, nonce[:]...)
	case ModeXChaCha20RTPSize:
		x, _ := chacha20poly1305.NewX(testKey)
		out = x.Seal(out, n24[:], rtp[hl:], rtp[:hl])
		return append(out, nonce[:]...)
	case ModeXSalsa20:
		var hn [24]byte
		copy(hn[:], rtp[:12])
		return secretbox.Seal(out, rtp[12:], &hn, (*[32]byte)(testKey))
	case ModeXSalsa20Lite, ModeXSalsa20LiteRTPSize:
		out = secretbox.Seal(out, rtp[hl:], &n24, (*[32]byte)(testKey))
		return append(out, nonce[:]...)
	}
	return nil
}

func TestSealKnownLayout(t *testing.T) {
	nonce := [4]byte{0x80, 0x01, 0x02, 0xC3}
	for _, m := range allModes {
		for _, s := range shapes {
			t.Run(m+"/"+s.name, func(t *testing.T) {
				c := mustNew(t, m)
				rtp := s.p.build()
				got, err := c.Seal(nil, rtp, nonce)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(rtp)+c.Overhead() {
					t.Fatalf("len = %d, want %d", len(got), len(rtp)+c.Overhead())
				}
				hl := clearLenFor(m, s.p)
				if !bytes.Equal(got[:hl], rtp[:hl]) {
					t.Fatalf("clear part differs:\n got %x\nwant %x", got[:hl], rtp[:hl])
				}
				if want := expectedSeal(t, m, s.p, nonce); want != nil && !bytes.Equal(got, want) {
					t.Fatalf("sealed:\n got %x\nwant %x", got, want)
				}
				if m == ModeXSalsa20Suffix {
					var n [24]byte
					copy(n[:], got[len(got)-24:])
					pt, ok := secretbox.Open(nil, got[12:len(got)-24], &n, (*[32]byte)(testKey))
					if !ok || !bytes.Equal(pt, rtp[12:]) {
						t.Fatal("suffix packet does not open with its appended nonce")
					}
				}
			})
		}
	}
}

// TestAADBoundary pins which bytes are authenticated-but-clear in the
// rtpsize AEAD modes: the fixed header, CSRCs and extension preamble, but
// not the extension body.
func TestAADBoundary(t *testing.T) {
	p := shapes[4].p // csrc_ext
	rtp := p.build()
	hl := p.rtpsizeLen()
	if hl != 12+8+4 {
		t.Fatalf("rtpsize header = %d", hl)
	}
	for _, m := range []string{ModeAES256GCMRTPSize, ModeXChaCha20RTPSize} {
		t.Run(m, func(t *testing.T) {
			c := mustNew(t, m)
			nonce := [4]byte{0, 0, 0, 1}
			pkt, err := c.Seal(nil, rtp, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(pkt[hl:hl+len(p.extBody)], p.extBody) {
				t.Fatal("extension body sent in clear")
			}
			ct := pkt[hl : len(pkt)-4]
			var n [24]byte
			copy(n[:], nonce[:])
			var a cipher.AEAD
			if m == ModeAES256GCMRTPSize {
				blk, _ := aes.NewCipher(testKey)
				a, _ = cipher.NewGCM(blk)
			} else {
				a, _ = chacha20poly1305.NewX(testKey)
			}
			for _, aad := range []struct {
				name string
				b    []byte
				ok   bool
			}{
				{"fixed12", rtp[:12], false},
				{"fixed+csrc", rtp[:20], false},
				{"rtpsize", rtp[:hl], true},
				{"with_ext_body", rtp[:hl+len(p.extBody)], false},
			} {
				_, err := a.Open(nil, n[:a.NonceSize()], ct, aad.b)
				if (err == nil) != aad.ok {
					t.Errorf("AAD %s: open err = %v, want ok=%v", aad.name, err, aad.ok)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	var sn ServerNonce
	for _, m := range allModes {
		for _, s := range shapes {
			t.Run(m+"/"+s.name, func(t *testing.T) {
				c := mustNew(t, m)
				rtp := s.p.build()
				nonce, _ := sn.Next()
				prefix := []byte("prefix")

				// Separate buffers, appending after existing content.
				sealed, err := c.Seal(append([]byte(nil), prefix...), rtp, nonce)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(sealed, prefix) {
					t.Fatal("Seal clobbered dst")
				}
				wire := sealed[len(prefix):]
				if suf := c.id.suffix(); suf == 4 && !bytes.Equal(wire[len(wire)-4:], nonce[:]) {
					t.Fatalf("nonce suffix = %x, want %x", wire[len(wire)-4:], nonce)
				}
				opened, err := c.Open(append([]byte(nil), prefix...), wire)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(opened, prefix) || !bytes.Equal(opened[len(prefix):], rtp) {
					t.Fatalf("round trip:\n got %x\nwant %x", opened[len(prefix):], rtp)
				}
				h, err := ParseHeader(opened[len(prefix):])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(opened[len(prefix)+h.PayloadStart:len(prefix)+h.PayloadEnd], s.p.payload) {
					t.Fatal("payload differs after round trip")
				}

				// In place, with capacity for the overhead.
				buf := make([]byte, len(rtp), len(rtp)+c.Overhead())
				copy(buf, rtp)
				inPlace, err := c.Seal(buf[:0], buf, nonce)
				if err != nil {
					t.Fatal(err)
				}
				if m != ModeXSalsa20Suffix && !bytes.Equal(inPlace, wire) {
					t.Fatal("in-place Seal differs from out-of-place")
				}
				if &inPlace[0] != &buf[0] {
					t.Fatal("in-place Seal reallocated")
				}
				back, err := c.Open(inPlace[:0], inPlace)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(back, rtp) || &back[0] != &buf[0] {
					t.Fatal("in-place Open wrong or reallocated")
				}

				// Sealing must not modify its input.
				orig := append([]byte(nil), rtp...)
				if _, err := c.Seal(make([]byte, 0, 2048), rtp, nonce); err != nil || !bytes.Equal(rtp, orig) {
					t.Fatal("Seal modified its input")
				}
			})
		}
	}
}

// TestCrossKeyAndMode: a packet never opens under another key or mode. It
// uses a packet with CSRCs and an extension: without them the rtpsize and
// non-rtpsize layouts of the same cipher coincide byte for byte.
func TestCrossKeyAndMode(t *testing.T) {
	rtp := shapes[4].p.build()
	other := seqBytes(32, 0x41)
	for _, m := range allModes {
		c := mustNew(t, m)
		wire, _ := c.Seal(nil, rtp, [4]byte{1})
		c2, _ := NewCipher(m, other)
		if _, err := c2.Open(nil, wire); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: wrong key: err = %v, want ErrAuth", m, err)
		}
		for _, m2 := range allModes {
			if m2 == m {
				continue
			}
			if out, err := mustNew(t, m2).Open(nil, wire); err == nil {
				t.Errorf("sealed %s opened as %s: %x", m, m2, out)
			}
		}
	}
}

// TestTamper flips one bit in every byte of a sealed packet. Every
// authenticated byte must make Open fail; the clear header of the secretbox
// modes (except xsalsa20_poly1305, where it is the nonce) is not
// authenticated and may open.
func TestTamper(t *testing.T) {
	for _, m := range allModes {
		for _, s := range shapes {
			t.Run(m+"/"+s.name, func(t *testing.T) {
				c := mustNew(t, m)
				rtp := s.p.build()
				wire, _ := c.Seal(nil, rtp, [4]byte{0x80, 0, 0, 0xC0})
				unauth := 0
				if c.id.secretbox() && c.id != modeXSalsa {
					unauth = clearLenFor(m, s.p)
				}
				for i := range wire {
					for _, bit := range []byte{0x01, 0x80} {
						bad := append([]byte(nil), wire...)
						bad[i] ^= bit
						out, err := c.Open(nil, bad)
						if i >= unauth && err == nil {
							t.Fatalf("byte %d bit %#x: tampered packet opened", i, bit)
						}
						if i < unauth && err == nil && !bytes.Equal(out[unauth:], rtp[unauth:]) {
							t.Fatalf("byte %d: unauthenticated header change altered the payload", i)
						}
					}
				}
			})
		}
	}
}

func TestTruncation(t *testing.T) {
	for _, m := range allModes {
		c := mustNew(t, m)
		for _, s := range shapes {
			wire, _ := c.Seal(nil, s.p.build(), [4]byte{9, 9, 9, 9})
			for n := 0; n < len(wire); n++ {
				if _, err := c.Open(nil, wire[:n]); err == nil {
					t.Fatalf("%s/%s: truncated to %d opened", m, s.name, n)
				}
			}
			// Extra trailing bytes are not a valid packet either.
			if _, err := c.Open(nil, append(append([]byte(nil), wire...), 0)); err == nil {
				t.Fatalf("%s/%s: packet with a trailing byte opened", m, s.name)
			}
		}
	}
}

func TestSealOpenErrors(t *testing.T) {
	ext := pkt{pt: 120, ext: true, profile: ExtProfileOneByte, csrcs: []uint32{1, 2}}.build()
	tests := []struct {
		name string
		in   []byte
		want error
		only func(modeID) bool
	}{
		{"empty", nil, ErrShortPacket, nil},
		{"11_bytes", make([]byte, 11), ErrShortPacket, nil},
		{"version0", make([]byte, 40), ErrNotRTP, nil},
		{"version1", append([]byte{0x40}, make([]byte, 40)...), ErrNotRTP, nil},
		{"csrc_past_end", append([]byte{0x8F, 0x78}, make([]byte, 30)...), ErrShortPacket, modeID.rtpsize},
		{"preamble_past_end", ext[:len(ext)-2], ErrShortPacket, modeID.rtpsize},
	}
	for _, m := range allModes {
		c := mustNew(t, m)
		for _, tt := range tests {
			if tt.only != nil && !tt.only(c.id) {
				continue
			}
			t.Run(m+"/"+tt.name, func(t *testing.T) {
				if _, err := c.Seal(nil, tt.in, [4]byte{}); !errors.Is(err, tt.want) {
					t.Errorf("Seal err = %v, want %v", err, tt.want)
				}
				if _, err := c.Open(nil, tt.in); !errors.Is(err, tt.want) {
					t.Errorf("Open err = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

func TestOverlapRejected(t *testing.T) {
	rtp := shapes[0].p.build()
	for _, m := range allModes {
		c := mustNew(t, m)
		buf := make([]byte, 4096)
		copy(buf[8:], rtp)
		in := buf[8 : 8+len(rtp)]
		// dst starts 4 bytes after the input: neither in place nor disjoint.
		if _, err := c.Seal(buf[12:12], in, [4]byte{}); !errors.Is(err, ErrOverlap) {
			t.Errorf("%s: Seal inexact overlap: err = %v", m, err)
		}
		wire, _ := c.Seal(nil, rtp, [4]byte{})
		copy(buf[8:], wire)
		in = buf[8 : 8+len(wire)]
		if _, err := c.Open(buf[4:4], in); !errors.Is(err, ErrOverlap) {
			t.Errorf("%s: Open inexact overlap: err = %v", m, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	for _, m := range allModes {
		c := mustNew(t, m)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var sn ServerNonce
				dst := make([]byte, 0, 512)
				back := make([]byte, 0, 512)
				for i := 0; i < 200; i++ {
					p := pkt{pt: 120, seq: uint16(i), ssrc: uint32(g), payload: seqBytes(20+i%50, byte(g))}
					rtp := p.build()
					n, _ := sn.Next()
					w, err := c.Seal(dst[:0], rtp, n)
					if err != nil {
						errs <- err
						return
					}
					o, err := c.Open(back[:0], w)
					if err != nil || !bytes.Equal(o, rtp) {
						errs <- fmt.Errorf("round trip failed: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race; allocation counts are meaningless")
	}
	rtp := shapes[2].p.build()
	for _, m := range allModes {
		c := mustNew(t, m)
		dst := make([]byte, 0, 512)
		wire, _ := c.Seal(nil, rtp, [4]byte{1})
		back := make([]byte, 0, 512)
		if n := testing.AllocsPerRun(100, func() { _, _ = c.Seal(dst, rtp, [4]byte{1}) }); n != 0 {
			t.Errorf("%s: Seal allocs = %v", m, n)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = c.Open(back, wire) }); n != 0 {
			t.Errorf("%s: Open allocs = %v", m, n)
		}
	}
}

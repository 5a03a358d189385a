package voiceproto

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// decodeServerNonce inverts Next's mapping.
func decodeServerNonce(n [4]byte) uint32 {
	return uint32(n[0]&0x7F)<<22 | uint32(n[1])<<14 | uint32(n[2])<<6 | uint32(n[3]&0x3F)
}

func TestServerNonceFirst(t *testing.T) {
	var s ServerNonce
	want := [][4]byte{{0x80, 0, 0, 0xC0}, {0x80, 0, 0, 0xC1}}
	for i, w := range want {
		n, ok := s.Next()
		if !ok || n != w {
			t.Fatalf("nonce %d = %x ok=%v, want %x", i, n, ok, w)
		}
	}
	if s.Remaining() != ServerNonceSpace-2 {
		t.Fatalf("Remaining = %d", s.Remaining())
	}
}

// TestServerNonceDisjoint checks, over the first values, the last values
// and random points, that nonces are unique (the mapping is a bijection on
// [0, 2^29)) and disjoint from client counters (voice-protocol.md §3.4).
func TestServerNonceDisjoint(t *testing.T) {
	check := func(c uint32, n [4]byte) {
		t.Helper()
		if !IsServerNonce(n) {
			t.Fatalf("counter %d: %x outside server space", c, n)
		}
		if got := decodeServerNonce(n); got != c {
			t.Fatalf("counter %d: %x decodes to %d (not injective)", c, n, got)
		}
		be, le := binary.BigEndian.Uint32(n[:]), binary.LittleEndian.Uint32(n[:])
		if be < 1<<31 || le < 1<<31 {
			t.Fatalf("counter %d: %x collides with a client counter below 2^31 (be %d le %d)", c, n, be, le)
		}
		if le >= 0x80000000 && le < 0x80000000+1<<30 {
			t.Fatalf("counter %d: %x in the desktop RTCP range", c, n)
		}
	}
	var s ServerNonce
	for c := uint32(0); c < 1<<16; c++ {
		n, _ := s.Next()
		check(c, n)
		if at, ok := ServerNonceAt(c); !ok || at != n {
			t.Fatalf("ServerNonceAt(%d) = %x, %v; Next gave %x", c, at, ok, n)
		}
	}
	for _, c := range []uint32{ServerNonceSpace, ServerNonceSpace + 1, 1<<32 - 1} {
		if n, ok := ServerNonceAt(c); ok || n != ([4]byte{}) {
			t.Fatalf("ServerNonceAt(%d) = %x, %v past the space", c, n, ok)
		}
	}
	for i := 0; i < 10000; i++ {
		c := rand.Uint32N(ServerNonceSpace)
		s := ServerNonce{n: c}
		n, _ := s.Next()
		check(c, n)
	}
	s = ServerNonce{n: ServerNonceSpace - 3}
	for c := uint32(ServerNonceSpace - 3); c < ServerNonceSpace; c++ {
		n, ok := s.Next()
		if !ok {
			t.Fatalf("exhausted early at %d", c)
		}
		check(c, n)
	}
	if n, ok := s.Next(); ok || n != ([4]byte{}) {
		t.Fatalf("after exhaustion: %x ok=%v", n, ok)
	}
	if s.Remaining() != 0 {
		t.Fatal("Remaining after exhaustion")
	}
	if _, ok := s.Next(); ok {
		t.Fatal("exhaustion is not sticky")
	}
	// Client counters are never server nonces.
	for _, c := range []uint32{0, 1, 128, 0xC0, 1<<31 - 1} {
		var be, le [4]byte
		binary.BigEndian.PutUint32(be[:], c)
		binary.LittleEndian.PutUint32(le[:], c)
		if IsServerNonce(be) || IsServerNonce(le) {
			t.Fatalf("client counter %d classified as server nonce", c)
		}
	}
}

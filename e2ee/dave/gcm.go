package dave

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// gcmNonceSize is the AES-GCM nonce: 8 zero bytes ‖ u32 little-endian
// truncated nonce (dave.md §7).
const gcmNonceSize = 12

// gcmFullTag is Go's GCM tag length; DAVE keeps the first TagSize bytes.
const gcmFullTag = 16

// frameCipher is AES-128-GCM with an 8-byte truncated tag.
//
// Go's cipher.NewGCMWithTagSize accepts only 12..16-byte tags, so both
// directions use the standard 16-byte-tag AEAD (dave.md §7 "Go and 8-byte
// tags"). Sealing keeps the first 8 tag bytes: a truncated GCM tag is the
// prefix of the full one (NIST SP 800-38D §5.2.1.2). Opening relies on GCM
// being CTR mode plus GHASH over the ciphertext:
//
//  1. Seal(C) yields C ⊕ keystream = P (its tag is discarded);
//  2. Seal(P) yields C again and the full tag over (AAD, C);
//  3. the first 8 bytes of that tag are compared in constant time.
//
// Both passes use the one cipher.AEAD per key generation and caller-owned
// buffers, so neither allocates. The plaintext must not be released unless
// step 3 succeeds.
type frameCipher struct {
	aead cipher.AEAD
}

func newFrameCipher(key []byte) (frameCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return frameCipher{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return frameCipher{}, err
	}
	return frameCipher{aead: aead}, nil
}

// setNonce expands a truncated nonce into the 12-byte GCM nonce iv. The
// nonce lives in the caller's long-lived struct: a stack array passed to
// the cipher.AEAD interface would escape and allocate per frame.
func setNonce(iv *[gcmNonceSize]byte, n uint32) {
	*iv = [gcmNonceSize]byte{8: byte(n), 9: byte(n >> 8), 10: byte(n >> 16), 11: byte(n >> 24)}
}

// seal appends the ciphertext of pt and the full 16-byte tag to dst (the
// caller keeps the first TagSize tag bytes). dst's spare capacity must not
// overlap pt unless dst is pt[:0].
func (c frameCipher) seal(dst []byte, iv *[gcmNonceSize]byte, pt, aad []byte) []byte {
	return c.aead.Seal(dst, iv[:], pt, aad)
}

// open decrypts ct into ptBuf and authenticates it against the truncated
// tag, using scratch for the re-seal. ptBuf and scratch must each have room
// for len(ct)+16 bytes to avoid allocating; the returned plaintext aliases
// ptBuf. ok is false (and the plaintext is zeroed) when the tag mismatches.
func (c frameCipher) open(ptBuf, scratch []byte, iv *[gcmNonceSize]byte, ct, aad, tag []byte) (pt, ptBufOut, scratchOut []byte, ok bool) {
	ptBuf = c.aead.Seal(ptBuf[:0], iv[:], ct, aad)
	pt = ptBuf[:len(ct)]
	scratch = c.aead.Seal(scratch[:0], iv[:], pt, aad)
	full := scratch[len(ct) : len(ct)+TagSize]
	if subtle.ConstantTimeCompare(full, tag) != 1 {
		clear(pt)
		return nil, ptBuf, scratch, false
	}
	return pt, ptBuf, scratch, true
}

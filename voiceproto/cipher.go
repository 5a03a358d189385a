package voiceproto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/secretbox"
)

// Cipher seals and opens Discord voice packets for one (mode, 32-byte key).
// It is immutable after NewCipher; Seal and Open are safe for concurrent use.
type Cipher struct {
	mode string
	id   modeID
	aead cipher.AEAD   // AES-256-GCM or XChaCha20-Poly1305; nil for secretbox modes
	key  [KeySize]byte // secretbox modes only
	ns   int           // full AEAD/secretbox nonce size
	over int           // Overhead()
}

// nonces recycles full-size nonce buffers: a stack array passed to the
// cipher.AEAD interface would escape and cost an allocation per packet.
var nonces = sync.Pool{New: func() any { return new([24]byte) }}

// NewCipher returns a Cipher for mode and the 32-byte secret_key.
func NewCipher(mode string, key []byte) (*Cipher, error) {
	id := parseMode(mode)
	if id == modeInvalid {
		return nil, ErrUnknownMode
	}
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	c := &Cipher{mode: mode, id: id}
	switch id {
	case modeAESRTPSize, modeAESGCM:
		blk, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		if c.aead, err = cipher.NewGCM(blk); err != nil {
			return nil, err
		}
	case modeXChaChaRTPSize:
		var err error
		if c.aead, err = chacha20poly1305.NewX(key); err != nil {
			return nil, err
		}
	default:
		copy(c.key[:], key)
	}
	if c.aead != nil {
		c.ns = c.aead.NonceSize()
	} else {
		c.ns = 24
	}
	c.over = TagSize + id.suffix()
	return c, nil
}

// Mode returns the mode name given to NewCipher.
func (c *Cipher) Mode() string { return c.mode }

// Overhead returns the number of bytes Seal adds to a packet: the 16-byte
// tag plus the appended nonce (4 bytes, 24 in suffix mode, none in
// xsalsa20_poly1305).
func (c *Cipher) Overhead() int { return c.over }

// Seal appends to dst the wire form of the clear RTP packet rtp (12-byte
// header, CSRCs, optional extension preamble and body, payload, optional
// padding). nonce is the 4-byte wire nonce for the modes that carry one
// (rtpsize modes, aead_aes256_gcm, lite); use a ServerNonce. Suffix mode
// ignores it and draws 24 random bytes; xsalsa20_poly1305 ignores it and
// derives the nonce from the header. Seal checks only that rtp is RTP
// version 2 and holds the clear part; use ParseHeader for full validation.
//
// It does not allocate when cap(dst)-len(dst) >= len(rtp)+Overhead(). dst
// may be rtp[:0] to seal in place.
func (c *Cipher) Seal(dst, rtp []byte, nonce [4]byte) ([]byte, error) {
	hl, err := clearLen(c.id, rtp)
	if err != nil {
		return dst, err
	}
	return c.seal(dst, rtp, hl, nonce)
}

// seal is Seal with the clear part's length hl given (RTP or RTCP).
func (c *Cipher) seal(dst, rtp []byte, hl int, nonce [4]byte) ([]byte, error) {
	ret, out := sliceForAppend(dst, len(rtp)+c.over)
	if c.aead != nil {
		// [clear = AAD][ciphertext][tag][nonce 4]
		// Plaintext and ciphertext may coincide exactly (in place); the
		// written region must not touch the AAD, and the header copy must
		// not touch the plaintext.
		if inexactOverlap(out[hl:], rtp[hl:]) || anyOverlap(out[hl:], rtp[:hl]) ||
			anyOverlap(out[:hl], rtp[hl:]) {
			return dst, ErrOverlap
		}
		copy(out, rtp[:hl])
		n := nonces.Get().(*[24]byte)
		*n = [24]byte{}
		copy(n[:], nonce[:])
		c.aead.Seal(out[:hl], n[:c.ns], rtp[hl:], rtp[:hl])
		nonces.Put(n)
		copy(out[len(out)-4:], nonce[:])
		return ret, nil
	}
	// Secretbox: [clear][tag][box][suffix]. secretbox forbids any overlap.
	msg := rtp[hl:]
	if anyOverlap(out, rtp) {
		if !(len(out) > 0 && len(rtp) > 0 && &out[0] == &rtp[0]) {
			return dst, ErrOverlap
		}
		msg = append([]byte(nil), msg...)
	}
	copy(out, rtp[:hl])
	var n [24]byte
	suffix := out[len(out)-c.id.suffix():]
	switch c.id {
	case modeXSalsa:
		copy(n[:], rtp[:hl])
	case modeXSalsaSuffix:
		if _, err := rand.Read(n[:]); err != nil {
			return dst, ErrRandom
		}
		copy(suffix, n[:])
	default:
		copy(n[:], nonce[:])
		copy(suffix, nonce[:])
	}
	secretbox.Seal(out[:hl], msg, &n, &c.key)
	return ret, nil
}

// Open appends to dst the clear RTP packet carried by the wire packet pkt:
// the clear header as received, then the decrypted extension body (in the
// rtpsize modes; the whole extension and CSRCs in the legacy modes),
// payload and padding. Use ParseHeader on the result to find the payload.
// On failure it returns dst unchanged (in length) and ErrShortPacket,
// ErrNotRTP, ErrAuth or ErrOverlap; after a failed in-place Open the
// packet's contents are undefined.
//
// It does not allocate when cap(dst)-len(dst) >= len(pkt). dst may be
// pkt[:0] to open in place.
func (c *Cipher) Open(dst, pkt []byte) ([]byte, error) {
	hl, err := clearLen(c.id, pkt)
	if err != nil {
		return dst, err
	}
	return c.open(dst, pkt, hl)
}

// open is Open with the clear part's length hl given (RTP or RTCP).
func (c *Cipher) open(dst, pkt []byte, hl int) ([]byte, error) {
	if len(pkt) < hl+c.over {
		return dst, ErrShortPacket
	}
	ct := pkt[hl : len(pkt)-c.id.suffix()]
	ptLen := len(ct) - TagSize
	ret, out := sliceForAppend(dst, hl+ptLen)
	if c.aead != nil {
		// Plaintext lands at out[hl:], ciphertext starts at pkt[hl:].
		if inexactOverlap(out[hl:], ct) || anyOverlap(out[hl:], pkt[:hl]) ||
			anyOverlap(out[:hl], ct) {
			return dst, ErrOverlap
		}
		n := nonces.Get().(*[24]byte)
		*n = [24]byte{}
		copy(n[:], pkt[len(pkt)-4:])
		copy(out, pkt[:hl])
		_, err := c.aead.Open(out[:hl], n[:c.ns], ct, pkt[:hl])
		nonces.Put(n)
		if err != nil {
			return dst, ErrAuth
		}
		return ret, nil
	}
	var n [24]byte
	switch c.id {
	case modeXSalsa:
		copy(n[:], pkt[:hl])
	case modeXSalsaSuffix:
		copy(n[:], pkt[len(pkt)-24:])
	default:
		copy(n[:], pkt[len(pkt)-4:])
	}
	if anyOverlap(out, pkt) {
		if !(len(out) > 0 && &out[0] == &pkt[0]) {
			return dst, ErrOverlap
		}
		ct = append([]byte(nil), ct...)
	}
	copy(out, pkt[:hl])
	if _, ok := secretbox.Open(out[:hl], ct, &n, &c.key); !ok {
		return dst, ErrAuth
	}
	return ret, nil
}

// sliceForAppend extends in by n bytes, reallocating if needed; tail is the
// extension. From crypto/cipher.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}

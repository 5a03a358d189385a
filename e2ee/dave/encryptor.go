package dave

import (
	"math"
	"slices"
)

// maxEncryptAttempts bounds the H.264/H.265 retries with the next nonce
// when ciphertext or footer contains a start code (libdave encryptor.cpp).
const maxEncryptAttempts = 10

// EncryptorStats counts Encrypt outcomes.
type EncryptorStats struct {
	Encrypted   uint64 // frames encrypted
	Passthrough uint64 // frames passed unchanged in passthrough mode
	Silence     uint64 // Opus silence frames passed unencrypted
	Failures    uint64 // frames refused (errors)
	Attempts    uint64 // encryption attempts, > Encrypted after H.26x retries
	MaxAttempts uint64 // most attempts one frame needed
}

// Encryptor encrypts one sender's frames (dave.md §6-§7; libdave
// encryptor.cpp). Audio and video of the sender share the ratchet and the
// nonce counter, which is pre-incremented (the first frame has nonce 1) and
// reset for each new ratchet; the generation is the nonce's top byte and
// keeps increasing when the 32-bit counter wraps.
//
// In passthrough mode (DAVE off, or after a downgrade executes) frames are
// returned unchanged. The Opus silence frame is never encrypted.
//
// An Encryptor is not safe for concurrent use. Encrypt does not allocate
// in steady state when dst has room for len(frame)+MaxOverhead+16 bytes.
type Encryptor struct {
	ratchet     *KeyRatchet
	cipher      frameCipher
	haveCipher  bool
	gen         uint32        // generation of cipher
	key         [KeySize]byte // cipher's key, for the split path (SealJob)
	keyID       uint64        // cipher's key id (newKeyID)
	nonce       uint32        // last truncated nonce used
	passthrough bool

	iv      [gcmNonceSize]byte
	fb      frameBuilder
	aad, pt []byte

	stats EncryptorStats
}

// NewEncryptor returns an Encryptor with no key and passthrough off.
func NewEncryptor() *Encryptor { return &Encryptor{} }

// SetKeyRatchet installs the sender's own ratchet for a new epoch and resets
// the nonce counter.
func (e *Encryptor) SetKeyRatchet(r *KeyRatchet) {
	e.ratchet = r
	e.haveCipher = false
	e.cipher = frameCipher{}
	e.gen, e.nonce = 0, 0
}

// SetPassthrough turns passthrough mode on or off.
func (e *Encryptor) SetPassthrough(on bool) { e.passthrough = on }

// Passthrough reports whether passthrough mode is on.
func (e *Encryptor) Passthrough() bool { return e.passthrough }

// HasKey reports whether a ratchet is installed.
func (e *Encryptor) HasKey() bool { return e.ratchet != nil }

// Stats returns the counters.
func (e *Encryptor) Stats() EncryptorStats { return e.stats }

// Encrypt encrypts an Opus frame; see EncryptCodec.
func (e *Encryptor) Encrypt(dst, frame []byte) ([]byte, error) {
	return e.EncryptCodec(dst, CodecOpus, frame)
}

// EncryptCodec appends the DAVE frame for frame, encoded with codec, to dst
// and returns the extended slice (at most len(frame)+MaxOverhead bytes are
// added, more for AV1/H.26x rewrites). dst must not overlap frame. On error
// dst is returned unchanged.
//
// Errors: ErrNoKey, ErrEmptyFrame, ErrTooManyRanges,
// ErrCiphertextValidation, and key derivation failures.
func (e *Encryptor) EncryptCodec(dst []byte, codec Codec, frame []byte) ([]byte, error) {
	if e.passthrough {
		e.stats.Passthrough++
		return append(dst, frame...), nil
	}
	if (codec == CodecOpus || codec == CodecUnknown) && IsOpusSilence(frame) {
		e.stats.Silence++
		return append(dst, frame...), nil
	}
	if len(frame) == 0 {
		e.stats.Failures++
		return dst, ErrEmptyFrame
	}
	if e.ratchet == nil {
		e.stats.Failures++
		return dst, ErrNoKey
	}

	body, ranges := frame, []span(nil)
	if e.fb.build(codec, frame) {
		body, ranges = e.fb.buf, e.fb.ranges
	}
	rangesLen := 0
	for _, r := range ranges {
		rangesLen += sizeULEB128(uint64(r.off)) + sizeULEB128(uint64(r.size))
	}
	if TagSize+5+rangesLen+1+MarkerSize > math.MaxUint8 {
		e.stats.Failures++
		return dst, ErrTooManyRanges
	}
	h26x := codec == CodecH264 || codec == CodecH265

	// Gather plaintext and AAD when there are clear ranges.
	if len(ranges) > 0 {
		e.aad, e.pt = e.aad[:0], e.pt[:0]
		e.pt = slices.Grow(e.pt, len(body)+gcmFullTag)
		pos := 0
		for _, r := range ranges {
			e.pt = append(e.pt, body[pos:r.off]...)
			e.aad = append(e.aad, body[r.off:r.off+r.size]...)
			pos = r.off + r.size
		}
		e.pt = append(e.pt, body[pos:]...)
	}

	start := len(dst)
	dst = slices.Grow(dst, len(body)+gcmFullTag+MaxOverhead)
	for attempt := uint64(1); ; attempt++ {
		dst = dst[:start]
		nonce, c, err := e.next()
		if err != nil {
			e.stats.Failures++
			return dst, err
		}
		e.stats.Attempts++
		e.stats.MaxAttempts = max(e.stats.MaxAttempts, attempt)
		setNonce(&e.iv, nonce)
		if len(ranges) == 0 {
			// ciphertext ‖ 16-byte tag; keep the first TagSize tag bytes.
			dst = c.seal(dst, &e.iv, body, nil)
			dst = dst[:start+len(body)+TagSize]
		} else {
			sealed := c.seal(e.pt[:0], &e.iv, e.pt, e.aad)
			dst = appendInterleaved(dst, body, ranges, sealed[:len(e.pt)])
			dst = append(dst, sealed[len(e.pt):][:TagSize]...)
		}
		dst = appendFooter(dst, nonce, ranges)
		if !h26x || validH26x(dst[start:], ranges) {
			e.stats.Encrypted++
			return dst, nil
		}
		if attempt >= maxEncryptAttempts {
			e.stats.Failures++
			return dst[:start], ErrCiphertextValidation
		}
		if len(ranges) > 0 { // restore the plaintext sealed in place
			e.pt = e.pt[:0]
			pos := 0
			for _, r := range ranges {
				e.pt = append(e.pt, body[pos:r.off]...)
				pos = r.off + r.size
			}
			e.pt = append(e.pt, body[pos:]...)
		}
	}
}

// next advances the nonce counter and returns the cipher of its generation.
func (e *Encryptor) next() (uint32, frameCipher, error) {
	e.nonce++
	gen := wrappedGeneration(e.gen, e.nonce>>generationShift)
	if !e.haveCipher || gen != e.gen {
		key, err := e.ratchet.Key(gen)
		if err != nil {
			return 0, frameCipher{}, err
		}
		c, err := newFrameCipher(key)
		if err != nil {
			return 0, frameCipher{}, err
		}
		if e.haveCipher && gen != e.gen {
			e.ratchet.Erase(e.gen)
		}
		e.cipher, e.gen, e.haveCipher = c, gen, true
		e.keyID = newKeyID()
		copy(e.key[:], key)
	}
	return e.nonce, e.cipher, nil
}

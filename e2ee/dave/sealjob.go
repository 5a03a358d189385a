package dave

import (
	"math"
	"slices"
	"sync/atomic"
)

// keyIDs numbers the AES keys handed to split-path callers (SealJob,
// OpenJob): one id per (ratchet, generation) cipher an Encryptor or a
// Decryptor makes, unique in the process, so a caller can cache its own
// key object (a WebCrypto CryptoKey) per id.
var keyIDs atomic.Uint64

func newKeyID() uint64 { return keyIDs.Add(1) }

// SealJob is one frame's encryption split around the AES-GCM call
// (Encryptor.BeginSeal, FinishSeal): the Encryptor chooses the nonce, the
// generation key and the codec's unencrypted ranges; the caller seals
// Plaintext with Key, IV and AAD (AES-128-GCM, a tag of at least TagSize
// bytes, e.g. WebCrypto with tagLength 64) and gives the result back; the
// Encryptor lays out the DAVE frame. The frame is byte for byte what
// EncryptCodec makes with the same nonce.
//
// A SealJob owns copies of what it needs (the frame may be reused once
// BeginSeal returns); its buffers are reused when it is. The exported
// fields are valid from BeginSeal (or a FinishSeal that says again) until
// the next call with the job, and must not be modified.
type SealJob struct {
	// KeyID names Key: the same id always means the same key.
	KeyID uint64
	// Key is the AES-128 key of the nonce's generation.
	Key [KeySize]byte
	// IV is the 12-byte GCM nonce (8 zero bytes ‖ u32 LE nonce).
	IV [gcmNonceSize]byte
	// AAD is the clear ranges concatenated (empty without ranges).
	AAD []byte
	// Plaintext is the bytes to encrypt, the rest concatenated.
	Plaintext []byte

	nonce   uint32
	attempt uint64
	h26x    bool
	body    []byte // the interleaved frame (the codec's rewrite or a copy)
	ranges  []span
	pt, aad []byte // Plaintext's and AAD's buffers when there are ranges
}

// BeginSeal prepares job for frame, encoded with codec, and advances the
// nonce counter as EncryptCodec does. It reports false when the frame is
// not one for the split path (passthrough, the Opus silence frame, an
// empty frame, no key, too many ranges, a key derivation failure): pass it
// to EncryptCodec, which sends it as it should or refuses and counts it.
func (e *Encryptor) BeginSeal(job *SealJob, codec Codec, frame []byte) bool {
	if e.passthrough || len(frame) == 0 || e.ratchet == nil ||
		(codec == CodecOpus || codec == CodecUnknown) && IsOpusSilence(frame) {
		return false
	}
	job.ranges = job.ranges[:0]
	if e.fb.build(codec, frame) {
		job.body = append(job.body[:0], e.fb.buf...)
		job.ranges = append(job.ranges, e.fb.ranges...)
	} else {
		job.body = append(job.body[:0], frame...)
	}
	rangesLen := 0
	for _, r := range job.ranges {
		rangesLen += sizeULEB128(uint64(r.off)) + sizeULEB128(uint64(r.size))
	}
	if TagSize+5+rangesLen+1+MarkerSize > math.MaxUint8 {
		return false
	}
	job.h26x = codec == CodecH264 || codec == CodecH265
	job.Plaintext, job.AAD = job.body, nil
	if len(job.ranges) > 0 {
		job.pt, job.aad = job.pt[:0], job.aad[:0]
		pos := 0
		for _, r := range job.ranges {
			job.pt = append(job.pt, job.body[pos:r.off]...)
			job.aad = append(job.aad, job.body[r.off:r.off+r.size]...)
			pos = r.off + r.size
		}
		job.pt = append(job.pt, job.body[pos:]...)
		job.Plaintext, job.AAD = job.pt, job.aad
	}
	job.attempt = 0
	return e.nextAttempt(job) == nil
}

// nextAttempt gives job the next nonce and its generation's key.
func (e *Encryptor) nextAttempt(job *SealJob) error {
	nonce, _, err := e.next()
	if err != nil {
		return err
	}
	job.attempt++
	e.stats.Attempts++
	e.stats.MaxAttempts = max(e.stats.MaxAttempts, job.attempt)
	job.nonce, job.KeyID, job.Key = nonce, e.keyID, e.key
	setNonce(&job.IV, nonce)
	return nil
}

// FinishSeal appends the DAVE frame of job to dst, from sealed: the
// ciphertext of job.Plaintext followed by the GCM tag (TagSize to 16
// bytes; the first TagSize are kept). dst must not overlap sealed. For
// H.264/H.265, when the ciphertext or footer holds a start code, it
// answers again with dst unchanged: job has the next nonce and key; seal
// Plaintext again and call FinishSeal again (at most 10 attempts, as
// EncryptCodec). On error dst is returned unchanged; the frame is counted
// as refused.
//
// Errors: ErrSealedSize, ErrCiphertextValidation, and key derivation
// failures (for the next attempt).
func (e *Encryptor) FinishSeal(dst []byte, job *SealJob, sealed []byte) (out []byte, again bool, err error) {
	if n := len(job.Plaintext); job.attempt == 0 || len(sealed) < n+TagSize || len(sealed) > n+gcmFullTag {
		e.stats.Failures++
		return dst, false, ErrSealedSize
	}
	start := len(dst)
	dst = appendSealed(dst, job.body, job.ranges, sealed[:len(job.Plaintext)], sealed[len(job.Plaintext):][:TagSize], job.nonce)
	if !job.h26x || validH26x(dst[start:], job.ranges) {
		e.stats.Encrypted++
		return dst, false, nil
	}
	dst = dst[:start]
	if job.attempt >= maxEncryptAttempts {
		e.stats.Failures++
		return dst, false, ErrCiphertextValidation
	}
	if err := e.nextAttempt(job); err != nil {
		e.stats.Failures++
		return dst, false, err
	}
	return dst, true, nil
}

// appendSealed appends the DAVE frame (dave.md §7) of the interleaved
// frame body with clear ranges, its encrypted bytes replaced by ctext, the
// truncated tag and the footer.
func appendSealed(dst, body []byte, ranges []span, ctext, tag []byte, nonce uint32) []byte {
	dst = slices.Grow(dst, len(body)+TagSize+MaxOverhead)
	dst = appendInterleaved(dst, body, ranges, ctext)
	dst = append(dst, tag...)
	return appendFooter(dst, nonce, ranges)
}

// appendInterleaved appends the frame body with its clear ranges kept and
// the bytes between them taken, in order, from ctext.
func appendInterleaved(dst, body []byte, ranges []span, ctext []byte) []byte {
	pos := 0
	for _, r := range ranges {
		gap := r.off - pos
		dst = append(dst, ctext[:gap]...)
		ctext = ctext[gap:]
		dst = append(dst, body[r.off:r.off+r.size]...)
		pos = r.off + r.size
	}
	return append(dst, ctext...)
}

// appendFooter appends the footer (dave.md §7) after the truncated tag,
// which ends dst: the nonce and the clear ranges as ULEB128, the
// supplemental size and the marker.
func appendFooter(dst []byte, nonce uint32, ranges []span) []byte {
	footerStart := len(dst) - TagSize
	dst = appendULEB128(dst, uint64(nonce))
	for _, r := range ranges {
		dst = appendULEB128(dst, uint64(r.off))
		dst = appendULEB128(dst, uint64(r.size))
	}
	return append(dst, byte(len(dst)-footerStart+1+MarkerSize), 0xFA, 0xFA)
}

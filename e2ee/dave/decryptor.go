package dave

import (
	"slices"
	"time"
)

// DecryptorStats counts Decrypt outcomes. Failures are broken down by
// reason.
type DecryptorStats struct {
	Decrypted    uint64 // frames authenticated and decrypted
	Passthrough  uint64 // unencrypted frames passed while allowed
	Silence      uint64 // Opus silence frames passed
	Attempts     uint64 // per-epoch decryption attempts
	Unencrypted  uint64 // ErrUnencrypted
	NoKey        uint64 // ErrNoKey
	AuthFailures uint64 // ErrAuth
	Replays      uint64 // ErrReplay
	Generation   uint64 // ErrGenerationExpired or ErrGenerationTooNew
}

// DecryptorOption configures a Decryptor.
type DecryptorOption func(*Decryptor)

// WithClock sets the clock used for key expiry, ratchet age and passthrough
// expiry. Constructors that are not given one use time.Now.
func WithClock(now func() time.Time) DecryptorOption {
	return func(d *Decryptor) { d.now = now }
}

// Decryptor decrypts one sender's frames (dave.md §6-§7; libdave
// decryptor.cpp). It keeps the sender's ratchet for the current epoch and,
// for RatchetExpiry after a transition, the previous ones; within an epoch
// it keeps older generations for CipherExpiry after a newer one decrypts,
// rejects replays within a window of MaxMissingNonces, and accepts a
// generation at most MaxGenerationGap ahead.
//
// Passthrough: unencrypted frames are accepted only while passthrough is
// allowed (SetPassthrough), e.g. while a downgrade or upgrade transition is
// in progress. The Opus silence frame always passes.
//
// A Decryptor is not safe for concurrent use. Decrypt does not allocate in
// steady state.
type Decryptor struct {
	now    func() time.Time
	epochs []*keyEpoch // oldest first
	// last is the epoch that opened the latest frame, tried first (as
	// libdave keeps the cryptor that worked); then the others, newest
	// first. nil before the first frame and once it expired.
	last *keyEpoch

	passForever bool      // passthrough allowed without limit
	passUntil   time.Time // else allowed until then (zero: not allowed)

	iv      [gcmNonceSize]byte
	ranges  [maxRanges]span
	aad, ct []byte // gathered clear and encrypted bytes
	pt, tmp []byte // open buffers

	stats DecryptorStats
}

// NewDecryptor returns a Decryptor with no keys and passthrough disallowed.
func NewDecryptor(opts ...DecryptorOption) *Decryptor {
	d := &Decryptor{now: time.Now}
	for _, o := range opts {
		o(d)
	}
	return d
}

// Stats returns the counters.
func (d *Decryptor) Stats() DecryptorStats { return d.stats }

// TransitionToKeyRatchet installs the sender's ratchet for a new epoch.
// Ratchets already installed stay usable for RatchetExpiry (frames the
// sender encrypted before it switched).
func (d *Decryptor) TransitionToKeyRatchet(r *KeyRatchet) {
	now := d.now()
	exp := now.Add(RatchetExpiry)
	for _, e := range d.epochs {
		if e.expiry.IsZero() || e.expiry.After(exp) {
			e.expiry = exp
		}
	}
	if r != nil {
		d.epochs = append(d.epochs, newKeyEpoch(r, now))
	}
}

// SetPassthrough allows (on) unencrypted frames without limit, or (off)
// stops allowing them after expiry: an already running allowance is cut to
// at most now+expiry, and none is granted if passthrough was not allowed.
// Matches libdave TransitionToPassthroughMode and davey setPassthroughMode.
func (d *Decryptor) SetPassthrough(on bool, expiry time.Duration) {
	if on {
		d.passForever = true
		return
	}
	now := d.now()
	until := now.Add(expiry)
	if d.passForever {
		d.passForever = false
		d.passUntil = until
		return
	}
	if until.Before(d.passUntil) {
		d.passUntil = until
	}
}

// CanPassthrough reports whether unencrypted frames are accepted now.
func (d *Decryptor) CanPassthrough() bool {
	return d.passForever || (!d.passUntil.IsZero() && d.passUntil.After(d.now()))
}

// Decrypt appends the plaintext of frame to dst and returns the extended
// slice. dst must not overlap frame. The Opus silence frame is returned as
// is; an unencrypted frame (one CheckFrame rejects) is returned as is while
// passthrough is allowed and is ErrUnencrypted otherwise. On error dst is
// returned unchanged.
//
// Errors: ErrUnencrypted, ErrNoKey, ErrAuth, ErrReplay,
// ErrGenerationExpired, ErrGenerationTooNew.
func (d *Decryptor) Decrypt(dst, frame []byte) ([]byte, error) {
	if IsOpusSilence(frame) {
		d.stats.Silence++
		return append(dst, frame...), nil
	}
	now := d.now()
	d.dropExpired(now)

	info, ranges, err := parseFrame(frame, d.ranges[:0])
	if err != nil {
		if d.passForever || (!d.passUntil.IsZero() && d.passUntil.After(now)) {
			d.stats.Passthrough++
			return append(dst, frame...), nil
		}
		d.stats.Unencrypted++
		return dst, ErrUnencrypted
	}
	if len(d.epochs) == 0 {
		d.stats.NoKey++
		return dst, ErrNoKey
	}

	// Split the interleaved part into AAD (clear ranges) and ciphertext.
	ct, aad := info.interleaved, []byte(nil)
	if len(ranges) > 0 {
		d.ct, d.aad = splitInterleaved(d.ct[:0], d.aad[:0], info.interleaved, ranges)
		ct, aad = d.ct, d.aad
	}
	if need := len(ct) + gcmFullTag; cap(d.pt) < need {
		d.pt = make([]byte, 0, need+need/4)
		d.tmp = make([]byte, 0, need+need/4)
	}

	setNonce(&d.iv, info.nonce)
	worst := ErrAuth
	// The epoch that opened the last frame first, then the others, newest
	// first: a sender's frames stay in one epoch, and after a transition
	// the new one is the likely one. Each epoch keeps its own replay
	// window, so the order changes only how many attempts a frame takes.
	for i := len(d.epochs); i >= 0; i-- {
		e := d.tryAt(i)
		if e == nil {
			continue
		}
		pt, err := d.open(e, info, ct, aad, now)
		if err != nil {
			worst = worse(worst, err)
			continue
		}
		d.last = e
		d.stats.Decrypted++
		return reconstruct(dst, info.interleaved, ranges, pt), nil
	}
	d.countFailure(worst)
	return dst, worst
}

// tryAt is the epoch to try at step i of a loop from len(d.epochs) down
// to 0 (Decrypt's order, which the split path shares): the one that
// opened the last frame, then the others newest first; nil: skip.
func (d *Decryptor) tryAt(i int) *keyEpoch {
	switch {
	case i == len(d.epochs):
		return d.last
	case d.epochs[i] != d.last:
		return d.epochs[i]
	}
	return nil
}

// open decrypts ct (with aad) under epoch e: the plaintext, valid until
// the next call, or ErrReplay, a generation error or ErrAuth.
func (d *Decryptor) open(e *keyEpoch, info frameInfo, ct, aad []byte, now time.Time) ([]byte, error) {
	d.stats.Attempts++
	gen := wrappedGeneration(e.oldest, info.nonce>>generationShift)
	bn := bigNonce(gen, info.nonce)
	if !e.canProcess(bn) {
		return nil, ErrReplay
	}
	gc, err := e.cipher(gen, now)
	if err != nil {
		return nil, err
	}
	var pt []byte
	var ok bool
	pt, d.pt, d.tmp, ok = gc.c.open(d.pt, d.tmp, &d.iv, ct, aad, info.tag)
	if !ok {
		return nil, ErrAuth
	}
	e.success(gen, bn, now)
	return pt, nil
}

// reconstruct appends the interleaved frame with plaintext in the encrypted
// gaps.
func reconstruct(dst, interleaved []byte, ranges []span, pt []byte) []byte {
	if len(ranges) == 0 {
		return append(dst, pt...)
	}
	return appendInterleaved(slices.Grow(dst, len(interleaved)), interleaved, ranges, pt)
}

// splitInterleaved appends the encrypted gaps of interleaved, in order,
// to ct and its clear ranges to aad (reconstruct's inverse).
func splitInterleaved(ct, aad, interleaved []byte, ranges []span) ([]byte, []byte) {
	pos := 0
	for _, r := range ranges {
		ct = append(ct, interleaved[pos:r.off]...)
		aad = append(aad, interleaved[r.off:r.off+r.size]...)
		pos = r.off + r.size
	}
	return append(ct, interleaved[pos:]...), aad
}

// worse picks the more telling failure across epochs: a replay or a
// generation problem says more than a failed tag under another epoch's key.
func worse(a, b error) error {
	rank := func(e error) int {
		switch e {
		case ErrReplay:
			return 3
		case ErrGenerationExpired, ErrGenerationTooNew:
			return 2
		case ErrAuth:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

func (d *Decryptor) countFailure(err error) {
	switch err {
	case ErrReplay:
		d.stats.Replays++
	case ErrGenerationExpired, ErrGenerationTooNew:
		d.stats.Generation++
	default:
		d.stats.AuthFailures++
	}
}

// dropExpired removes previous-epoch ratchets past their expiry.
func (d *Decryptor) dropExpired(now time.Time) {
	i := 0
	for i < len(d.epochs) && d.epochs[i].expired(now) {
		i++
	}
	if i > 0 {
		if slices.Contains(d.epochs[:i], d.last) {
			d.last = nil
		}
		n := copy(d.epochs, d.epochs[i:])
		clear(d.epochs[n:])
		d.epochs = d.epochs[:n]
	}
}

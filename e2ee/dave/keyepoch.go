package dave

import "time"

// Receiver-side key bookkeeping constants (dave.md §6; libdave
// cryptor_manager.cpp, davey cryptor/mod.rs).
const (
	// MaxGenerationGap is how far ahead of the newest decrypted generation
	// a frame's generation may be.
	MaxGenerationGap = 250
	// MaxMissingNonces is the replay window: a nonce up to this far below
	// the newest one decrypts if it has not been seen.
	MaxMissingNonces = 1000
	// MaxFramesPerSecond bounds the generations a ratchet of a given age
	// can have reached (50 audio frames + two 60 fps video streams).
	MaxFramesPerSecond = 50 + 2*60
	// CipherExpiry is how long older generations stay usable after a newer
	// one decrypts.
	CipherExpiry = 10 * time.Second
	// RatchetExpiry is how long a previous epoch's ratchet stays usable
	// after a new one is installed.
	RatchetExpiry = 10 * time.Second
	// generationShift: the generation is the top byte of the 32-bit nonce.
	generationShift = 24
	// generationWrap: the 8-bit wire generation wraps every 256.
	generationWrap = 1 << 8
	// replayBits is the replay bitmap size, a power of two > MaxMissingNonces.
	replayBits = 1024
)

// wrappedGeneration maps an 8-bit wire generation to the full generation
// nearest at or above oldest (libdave ComputeWrappedGeneration): after the
// 32-bit nonce counter wraps, generations keep increasing past 255.
func wrappedGeneration(oldest, gen8 uint32) uint32 {
	factor := oldest / generationWrap
	if gen8 < oldest%generationWrap {
		factor++
	}
	return factor*generationWrap + gen8
}

// bigNonce combines a full generation with the low 24 bits of the nonce, a
// per-ratchet frame counter that does not wrap.
func bigNonce(gen, nonce uint32) uint64 {
	return uint64(gen)<<generationShift | uint64(nonce&(1<<generationShift-1))
}

// genCipher is the AEAD of one generation and its expiry (zero: none).
type genCipher struct {
	gen    uint32
	c      frameCipher
	expiry time.Time
	id     uint64        // key id (newKeyID), for the split path (OpenJob)
	key    [KeySize]byte // c's key, for the split path
}

// keyEpoch holds one sender ratchet (one MLS epoch) on the receiving side:
// live generation ciphers, the replay window and expiry (libdave
// CryptorManager). It is pure: callers pass the time.
type keyEpoch struct {
	ratchet *KeyRatchet
	created time.Time
	expiry  time.Time // zero: none; set when a newer epoch arrives

	ciphers []genCipher
	oldest  uint32 // lowest generation whose key may still exist
	newest  uint32 // newest generation that decrypted

	seenAny bool
	newestN uint64                  // newest decrypted big nonce
	seen    [replayBits / 64]uint64 // bit set: nonce received (or never expected)
}

func newKeyEpoch(r *KeyRatchet, now time.Time) *keyEpoch {
	return &keyEpoch{ratchet: r, created: now}
}

func (k *keyEpoch) expired(now time.Time) bool {
	return !k.expiry.IsZero() && now.After(k.expiry)
}

// canProcess is the replay check, before decryption.
func (k *keyEpoch) canProcess(n uint64) bool {
	if !k.seenAny || n > k.newestN {
		return true
	}
	if k.newestN-n > MaxMissingNonces {
		return false
	}
	return k.seen[(n/64)%(replayBits/64)]&(1<<(n%64)) == 0
}

// markSeen records a successfully decrypted big nonce.
func (k *keyEpoch) markSeen(n uint64) {
	switch {
	case !k.seenAny:
		// Nonces before the first decrypted one are never accepted
		// (libdave starts its missing list at the first nonce).
		for i := range k.seen {
			k.seen[i] = ^uint64(0)
		}
		k.seenAny, k.newestN = true, n
	case n > k.newestN:
		if n-k.newestN >= replayBits {
			clear(k.seen[:])
		} else {
			for m := k.newestN + 1; m < n; m++ {
				k.seen[(m/64)%(replayBits/64)] &^= 1 << (m % 64)
			}
		}
		k.newestN = n
	}
	k.seen[(n/64)%(replayBits/64)] |= 1 << (n % 64)
}

// cipher returns the AEAD for generation gen, creating it when needed, after
// dropping expired generations. Errors: ErrGenerationExpired,
// ErrGenerationTooNew.
func (k *keyEpoch) cipher(gen uint32, now time.Time) (*genCipher, error) {
	k.cleanup(now)
	if gen < k.oldest {
		return nil, ErrGenerationExpired
	}
	if uint64(gen) > uint64(k.newest)+MaxGenerationGap {
		return nil, ErrGenerationTooNew
	}
	if gen > 0 {
		age := max(now.Sub(k.created), 0)
		maxGen := (MaxFramesPerSecond * uint64(age/time.Second)) >> generationShift
		if uint64(gen) > maxGen {
			return nil, ErrGenerationTooNew
		}
	}
	for i := range k.ciphers {
		if k.ciphers[i].gen == gen {
			return &k.ciphers[i], nil
		}
	}
	key, err := k.ratchet.Key(gen)
	if err != nil {
		return nil, err
	}
	c, err := newFrameCipher(key)
	if err != nil {
		return nil, err
	}
	gc := genCipher{gen: gen, c: c, id: newKeyID()}
	copy(gc.key[:], key)
	if gen < k.newest { // out-of-order frame of an older generation
		gc.expiry = now.Add(CipherExpiry)
	}
	k.ciphers = append(k.ciphers, gc)
	return &k.ciphers[len(k.ciphers)-1], nil
}

// success records a decrypted frame: replay window, newest generation, and
// the expiry of older generations.
func (k *keyEpoch) success(gen uint32, n uint64, now time.Time) {
	k.markSeen(n)
	if gen <= k.newest {
		return
	}
	k.newest = gen
	exp := now.Add(CipherExpiry)
	for i := range k.ciphers {
		if k.ciphers[i].gen < gen {
			k.ciphers[i].expiry = exp
		}
	}
}

// cleanup drops expired generation ciphers and erases the keys of
// generations below the oldest live one.
func (k *keyEpoch) cleanup(now time.Time) {
	j := 0
	for _, c := range k.ciphers {
		if !c.expiry.IsZero() && now.After(c.expiry) {
			continue
		}
		k.ciphers[j] = c
		j++
	}
	clear(k.ciphers[j:])
	k.ciphers = k.ciphers[:j]
	for k.oldest < k.newest && !k.has(k.oldest) {
		k.ratchet.Erase(k.oldest)
		k.oldest++
	}
}

func (k *keyEpoch) has(gen uint32) bool {
	for i := range k.ciphers {
		if k.ciphers[i].gen == gen {
			return true
		}
	}
	return false
}

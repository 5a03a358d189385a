package dave

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// KeySize is the AES-128 media key size and the size of a sender's base
// secret (dave.md §6).
const KeySize = 16

// maxRatchetStep bounds how far a single KeyRatchet.Key call ratchets
// forward. Decryptors never ask for more than MaxGenerationGap generations
// ahead and encryptors step one generation at a time.
const maxRatchetStep = 1 << 12

// KeyRatchet is the DAVE per-sender hash ratchet (dave.md §6; MLS §9.1
// style, mlspp HashRatchet; Snazzah/davey cryptor/hash_ratchet.rs):
//
//	s_0       = base secret (16 bytes)
//	key_g     = ExpandWithLabel(s_g, "key",    u32be(g), 16)
//	s_{g+1}   = ExpandWithLabel(s_g, "secret", u32be(g), 32)
//
// The nonce output of the MLS ratchet is unused by DAVE. Keys are cached
// from the lowest generation not yet erased; secrets for earlier
// generations are forgotten as the ratchet moves forward.
//
// A KeyRatchet is not safe for concurrent use. Give each Encryptor or
// Decryptor its own.
type KeyRatchet struct {
	next   uint64            // generation of secret
	secret []byte            // s_next
	keys   map[uint32][]byte // derived, not yet erased keys
}

// NewKeyRatchet starts a ratchet at generation 0 from a 16-byte base secret
// (normally SenderBaseSecret). The secret is copied.
func NewKeyRatchet(base []byte) (*KeyRatchet, error) {
	if len(base) != KeySize {
		return nil, fmt.Errorf("%w: got %d", ErrSecretSize, len(base))
	}
	return &KeyRatchet{secret: append([]byte(nil), base...), keys: make(map[uint32][]byte)}, nil
}

// Key returns the 16-byte AES key of generation gen, ratcheting forward as
// needed. It fails with ErrGenerationExpired for an erased generation (or
// one the ratchet has moved past) and ErrGenerationTooNew when gen is more
// than 4096 generations ahead. The returned slice must not be modified.
func (r *KeyRatchet) Key(gen uint32) ([]byte, error) {
	if k, ok := r.keys[gen]; ok {
		return k, nil
	}
	if uint64(gen) < r.next {
		return nil, ErrGenerationExpired
	}
	if uint64(gen)-r.next > maxRatchetStep {
		return nil, ErrGenerationTooNew
	}
	for r.next <= uint64(gen) {
		var ctx [4]byte
		binary.BigEndian.PutUint32(ctx[:], uint32(r.next))
		key, err := expandWithLabel(r.secret, "key", ctx[:], KeySize)
		if err != nil {
			return nil, err
		}
		next, err := expandWithLabel(r.secret, "secret", ctx[:], 32)
		if err != nil {
			return nil, err
		}
		clear(r.secret)
		r.keys[uint32(r.next)] = key
		r.secret = next
		r.next++
	}
	return r.keys[gen], nil
}

// Erase forgets the key of generation gen (zeroing it).
func (r *KeyRatchet) Erase(gen uint32) {
	if k, ok := r.keys[gen]; ok {
		clear(k)
		delete(r.keys, gen)
	}
}

// expandWithLabel is RFC 9420 §8 ExpandWithLabel with HKDF-SHA256 (cipher
// suite 2, dave.md §2): HKDF-Expand(secret, u16 length ‖ <V>("MLS 1.0 " +
// label) ‖ <V>context, length).
func expandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	const prefix = "MLS 1.0 "
	info := make([]byte, 0, 2+4+len(prefix)+len(label)+4+len(context))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = appendVarint(info, len(prefix)+len(label))
	info = append(info, prefix...)
	info = append(info, label...)
	info = appendVarint(info, len(context))
	info = append(info, context...)
	return hkdf.Expand(sha256.New, secret, string(info), length)
}

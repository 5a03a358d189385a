package mls

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

// Protocol constants (RFC 9420 §17.1, §5.1).
const (
	// ProtocolVersion is mls10.
	ProtocolVersion uint16 = 1
	// CipherSuite is MLS_128_DHKEMP256_AES128GCM_SHA256_P256, the only suite
	// this package implements.
	CipherSuite uint16 = 2

	hashLen   = sha256.Size // Nh
	aeadKey   = 16          // Nk for AES-128-GCM
	aeadNonce = 12          // Nn
	// PublicKeyLen is the length of an uncompressed P-256 point.
	PublicKeyLen = 65
)

var kem = hpke.DHKEM(ecdh.P256())

const labelPrefix = "MLS 1.0 "

// expandWithLabel is ExpandWithLabel (RFC 9420 §5.1).
func expandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	var w writer
	w.u16(uint16(length))
	w.bytes([]byte(labelPrefix + label))
	w.bytes(context)
	out, err := hkdf.Expand(sha256.New, secret, string(w.b), length)
	if err != nil {
		// Only reachable for length > 255*Nh, which no caller requests.
		panic("mls: hkdf expand: " + err.Error())
	}
	return out
}

// deriveSecret is DeriveSecret (RFC 9420 §5.1).
func deriveSecret(secret []byte, label string) []byte {
	return expandWithLabel(secret, label, nil, hashLen)
}

// deriveTreeSecret is DeriveTreeSecret (RFC 9420 §9).
func deriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	var g [4]byte
	g[0], g[1], g[2], g[3] = byte(generation>>24), byte(generation>>16), byte(generation>>8), byte(generation)
	return expandWithLabel(secret, label, g[:], length)
}

// extract is KDF.Extract(salt, ikm).
func extract(salt, ikm []byte) []byte {
	if salt == nil {
		salt = make([]byte, hashLen)
	}
	out, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		panic("mls: hkdf extract: " + err.Error())
	}
	return out
}

func hash(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func mac(key, data []byte) []byte { return macParts(key, data) }

func macEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// hashLabeled is Hash(label<V> || value<V>) for label = prefix+name and
// value the concatenation of parts, streamed so large values (a GroupInfo
// with its ratchet tree, a commit with a big UpdatePath) are not copied.
func hashLabeled(prefix, name string, parts ...[]byte) []byte {
	var hdr [4]byte
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	h := sha256.New()
	h.Write(appendVarint(hdr[:0], len(prefix)+len(name)))
	io.WriteString(h, prefix)
	io.WriteString(h, name)
	h.Write(appendVarint(hdr[:0], n))
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(make([]byte, 0, hashLen))
}

// hashParts is Hash of the concatenation of parts.
func hashParts(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(make([]byte, 0, hashLen))
}

// macParts is MAC(key, concatenation of parts).
func macParts(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// refHash is RefHash (RFC 9420 §5.2).
func refHash(label string, value ...[]byte) []byte {
	return hashLabeled("", label, value...)
}

// signDigest returns the digest of SignContent (RFC 9420 §5.1.2) whose
// content is the concatenation of parts.
func signDigest(label string, content ...[]byte) []byte {
	return hashLabeled(labelPrefix, label, content...)
}

// signWithLabel is SignWithLabel: ECDSA P-256 over SHA-256, DER encoded.
// The content is the concatenation of parts.
func signWithLabel(key *ecdsa.PrivateKey, label string, content ...[]byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, key, signDigest(label, content...))
}

// verifyWithLabel is VerifyWithLabel over sig and the concatenation of
// content.
func verifyWithLabel(pub []byte, label string, sig []byte, content ...[]byte) error {
	pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return fmt.Errorf("%w: signature key: %v", ErrInvalidKey, err)
	}
	if !ecdsa.VerifyASN1(pk, signDigest(label, content...), sig) {
		return fmt.Errorf("%w: %s", ErrInvalidSignature, label)
	}
	return nil
}

// GenerateSignatureKey returns a fresh ECDSA P-256 signature key.
func GenerateSignatureKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// ParseSignatureKey parses a raw 32-byte P-256 private scalar.
func ParseSignatureKey(raw []byte) (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return k, nil
}

// SignaturePublicKey returns the 65-byte uncompressed public key of k.
func SignaturePublicKey(k *ecdsa.PrivateKey) []byte {
	b, err := k.PublicKey.Bytes()
	if err != nil {
		return nil
	}
	return b
}

// hpkeKey is an HPKE private key with its serialized public key cached.
type hpkeKey struct {
	priv hpke.PrivateKey
	pub  []byte
}

func newHPKEKey(priv hpke.PrivateKey) *hpkeKey {
	return &hpkeKey{priv: priv, pub: priv.PublicKey().Bytes()}
}

func generateHPKEKey() (*hpkeKey, error) {
	k, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	return newHPKEKey(k), nil
}

// deriveHPKEKey is KEM.DeriveKeyPair.
func deriveHPKEKey(secret []byte) (*hpkeKey, error) {
	k, err := kem.DeriveKeyPair(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: derive key pair: %v", ErrInvalidKey, err)
	}
	return newHPKEKey(k), nil
}

func parseHPKEPrivate(raw []byte) (*hpkeKey, error) {
	k, err := kem.NewPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: hpke private key: %v", ErrInvalidKey, err)
	}
	return newHPKEKey(k), nil
}

func (k *hpkeKey) bytes() []byte {
	b, _ := k.priv.Bytes()
	return b
}

// HPKECiphertext is an HPKE encapsulated key and ciphertext (RFC 9420 §5.1.3).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) marshal(w *writer) {
	w.bytes(c.KEMOutput)
	w.bytes(c.Ciphertext)
}

func (c *HPKECiphertext) unmarshal(r *reader) {
	c.KEMOutput = r.bytes()
	c.Ciphertext = r.bytes()
}

const encLen = PublicKeyLen // DHKEM(P-256) enc size

func encryptContext(label string, context []byte) []byte {
	var w writer
	w.bytes([]byte(labelPrefix + label))
	w.bytes(context)
	return w.b
}

// encryptWithLabel is EncryptWithLabel (RFC 9420 §5.1.3).
func encryptWithLabel(pub []byte, label string, context, plaintext []byte) (HPKECiphertext, error) {
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return HPKECiphertext{}, fmt.Errorf("%w: hpke public key: %v", ErrInvalidKey, err)
	}
	out, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.AES128GCM(), encryptContext(label, context), plaintext)
	if err != nil {
		return HPKECiphertext{}, err
	}
	return HPKECiphertext{KEMOutput: out[:encLen], Ciphertext: out[encLen:]}, nil
}

// decryptWithLabel is DecryptWithLabel.
func decryptWithLabel(k *hpkeKey, label string, context []byte, ct HPKECiphertext) ([]byte, error) {
	if len(ct.KEMOutput) != encLen {
		return nil, fmt.Errorf("%w: kem output length %d", ErrDecrypt, len(ct.KEMOutput))
	}
	r, err := hpke.NewRecipient(ct.KEMOutput, k.priv, hpke.HKDFSHA256(), hpke.AES128GCM(), encryptContext(label, context))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	pt, err := r.Open(nil, ct.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return pt, nil
}

// validPublicKey reports whether b is an uncompressed P-256 point.
func validPublicKey(b []byte) bool {
	_, err := ecdh.P256().NewPublicKey(b)
	return err == nil
}

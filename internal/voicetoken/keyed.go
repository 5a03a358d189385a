package voicetoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// A fleet signs tokens with Ed25519 keys, each named by a key id (kid) the
// token carries in the clear:
//
//	"pv2." + KID + "." + base64url(claims JSON) + "." + base64url(Ed25519 signature)
//
// The signature covers everything before the last dot. The control plane
// holds the private key (SigningKey); voice nodes look the public key up by
// its id (KeySource: the fleet publishes them in etcd), so a key can be
// rotated — a new one made current while the previous one still verifies
// the tokens it signed until they expire — without stopping anything.

const prefixEd25519 = "pv2."

// kidLen is the length of a key id: 9 bytes of SHA-256, base64url.
const kidLen = 12

// SigningKey is a control plane's Ed25519 key and its id.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// NewSigningKey makes a fresh random key.
func NewSigningKey() SigningKey {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader) // crypto/rand does not fail
	return SigningKey{ID: KeyID(pub), Private: priv}
}

// Public is the key's public half.
func (k SigningKey) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// KeyID names a public key: base64url of the first 9 bytes of its SHA-256
// (12 characters of [A-Za-z0-9_-]).
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// ValidKeyID reports whether kid has KeyID's form.
func ValidKeyID(kid string) bool {
	if len(kid) != kidLen {
		return false
	}
	for _, r := range kid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// KeySource finds the public key a token names. VerifyingKey returns an
// error wrapping ErrUnknownKey when kid is not published, ErrRetiredKey
// when it was and is no longer valid at now.
type KeySource interface {
	VerifyingKey(kid string, now time.Time) (ed25519.PublicKey, error)
}

// KeySourceFunc adapts a function to KeySource.
type KeySourceFunc func(kid string, now time.Time) (ed25519.PublicKey, error)

// VerifyingKey calls f.
func (f KeySourceFunc) VerifyingKey(kid string, now time.Time) (ed25519.PublicKey, error) {
	return f(kid, now)
}

// Option configures a Signer.
type Option func(*Signer)

// WithKeys lets the Signer verify Ed25519 tokens ("pv2.") with the keys
// src publishes; without it they are refused (ErrUnknownKey).
func WithKeys(src KeySource) Option { return func(s *Signer) { s.keys = src } }

// WithIssuer makes the Signer issue Ed25519 tokens with the key current
// returns (the fleet's current key, which changes on rotation); when it
// returns nil the Signer issues HMAC tokens ("pv1.").
func WithIssuer(current func() *SigningKey) Option { return func(s *Signer) { s.current = current } }

// signEd25519 issues a "pv2." token for body with k.
func signEd25519(k *SigningKey, body []byte) string {
	enc := base64.RawURLEncoding
	p := prefixEd25519 + k.ID + "." + enc.EncodeToString(body)
	return p + "." + enc.EncodeToString(ed25519.Sign(k.Private, []byte(p)))
}

// parseEd25519 checks a "pv2." token's form and signature and returns its
// claims JSON.
func (s *Signer) parseEd25519(token string, now time.Time) ([]byte, error) {
	rest := token[len(prefixEd25519):]
	kid, rest, ok := strings.Cut(rest, ".")
	if !ok || !ValidKeyID(kid) {
		return nil, ErrMalformed
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 {
		return nil, ErrMalformed
	}
	sig, err := base64.RawURLEncoding.DecodeString(rest[dot+1:])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, ErrMalformed
	}
	body, err := base64.RawURLEncoding.DecodeString(rest[:dot])
	if err != nil {
		return nil, ErrMalformed
	}
	if s.keys == nil {
		return nil, fmt.Errorf("%w: %s (this server verifies no Ed25519 key)", ErrUnknownKey, kid)
	}
	pub, err := s.keys.VerifyingKey(kid, now)
	if err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, []byte(token[:len(token)-len(rest)+dot]), sig) {
		return nil, ErrSignature
	}
	return body, nil
}

package mls

import (
	"crypto/ecdsa"
	"fmt"
	"math"
)

// KeyPackage is a pre-published join offer (RFC 9420 §10).
type KeyPackage struct {
	Version     uint16
	CipherSuite uint16
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  []Extension
	Signature   []byte
}

// KeyPackageRef identifies a key package (RFC 9420 §5.2).
type KeyPackageRef []byte

func (k *KeyPackage) marshalContent(w *writer) {
	w.u16(k.Version)
	w.u16(k.CipherSuite)
	w.bytes(k.InitKey)
	k.LeafNode.marshal(w)
	marshalExtensions(w, k.Extensions)
}

func (k *KeyPackage) marshal(w *writer) {
	k.marshalContent(w)
	w.bytes(k.Signature)
}

func (k *KeyPackage) unmarshal(r *reader) {
	k.Version = r.u16()
	k.CipherSuite = r.u16()
	k.InitKey = r.bytes()
	k.LeafNode.unmarshal(r)
	k.Extensions = unmarshalExtensions(r)
	k.Signature = r.bytes()
}

// Marshal returns the bare KeyPackage encoding (what DAVE op 26 carries).
func (k *KeyPackage) Marshal() []byte {
	var w writer
	k.marshal(&w)
	return w.b
}

// ParseKeyPackage decodes a bare KeyPackage. It also accepts an MLSMessage
// wrapping one (wire format key_package), as dave.md §3 op 26 allows. It
// does not verify; call Verify.
func ParseKeyPackage(b []byte) (*KeyPackage, error) {
	if len(b) >= 4 && b[0] == 0 && b[1] == 1 && b[2] == 0 && b[3] == byte(WireFormatKeyPackage) {
		b = b[4:]
	}
	r := newReader(b)
	kp := new(KeyPackage)
	kp.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("key package: %w", err)
	}
	return kp, nil
}

// Ref returns the KeyPackageRef.
func (k *KeyPackage) Ref() KeyPackageRef {
	return refHash("MLS 1.0 KeyPackage Reference", k.Marshal())
}

// Identity returns the basic credential identity of the key package's leaf.
func (k *KeyPackage) Identity() []byte { return k.LeafNode.Identity() }

// Verify validates the key package for this package's cipher suite
// (RFC 9420 §10.1): version, suite, leaf source, key formats, both
// signatures, and init_key != encryption_key. Lifetime is not checked (the
// gateway checks DAVE's fixed lifetime, see CheckDAVELifetime).
func (k *KeyPackage) Verify() error {
	if k.Version != ProtocolVersion {
		return fmt.Errorf("%w: version %d", ErrInvalidKeyPackage, k.Version)
	}
	if k.CipherSuite != CipherSuite {
		return fmt.Errorf("%w: cipher suite %d", ErrInvalidKeyPackage, k.CipherSuite)
	}
	if k.LeafNode.Source != LeafSourceKeyPackage {
		return fmt.Errorf("%w: leaf source %d", ErrInvalidKeyPackage, k.LeafNode.Source)
	}
	if !validPublicKey(k.InitKey) {
		return fmt.Errorf("%w: init key", ErrInvalidKeyPackage)
	}
	if string(k.InitKey) == string(k.LeafNode.EncryptionKey) {
		return fmt.Errorf("%w: init key equals encryption key", ErrInvalidKeyPackage)
	}
	if err := k.LeafNode.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKeyPackage, err)
	}
	if err := k.LeafNode.VerifySignature(nil, 0); err != nil {
		return fmt.Errorf("%w: leaf node: %w", ErrInvalidKeyPackage, err)
	}
	var w writer
	k.marshalContent(&w)
	if err := verifyWithLabel(k.LeafNode.SignatureKey, "KeyPackageTBS", k.Signature, w.b); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidKeyPackage, err)
	}
	return nil
}

// CheckDAVELifetime reports whether the lifetime is DAVE's fixed
// not_before = 0, not_after = 2^64-1 (dave.md §1).
func (k *KeyPackage) CheckDAVELifetime() error {
	if k.LeafNode.NotBefore != 0 || k.LeafNode.NotAfter != math.MaxUint64 {
		return fmt.Errorf("%w: lifetime [%d, %d]", ErrInvalidKeyPackage, k.LeafNode.NotBefore, k.LeafNode.NotAfter)
	}
	return nil
}

// KeyPackageBundle is a key package with the private keys needed to join
// from a Welcome that uses it.
type KeyPackageBundle struct {
	KeyPackage *KeyPackage
	initKey    *hpkeKey
	encKey     *hpkeKey
	sigKey     *ecdsa.PrivateKey
}

// NewKeyPackage creates and signs a key package with fresh init and
// encryption keys, the given signature key and credential, DAVE's default
// capabilities and the lifetime [0, 2^64-1].
func NewKeyPackage(sig *ecdsa.PrivateKey, cred Credential) (*KeyPackageBundle, error) {
	initKey, err := generateHPKEKey()
	if err != nil {
		return nil, err
	}
	encKey, err := generateHPKEKey()
	if err != nil {
		return nil, err
	}
	return newKeyPackageWithKeys(sig, cred, initKey, encKey)
}

func newKeyPackageWithKeys(sig *ecdsa.PrivateKey, cred Credential, initKey, encKey *hpkeKey) (*KeyPackageBundle, error) {
	kp := &KeyPackage{
		Version:     ProtocolVersion,
		CipherSuite: CipherSuite,
		InitKey:     initKey.pub,
		LeafNode: LeafNode{
			EncryptionKey: encKey.pub,
			SignatureKey:  SignaturePublicKey(sig),
			Credential:    cred,
			Capabilities:  DefaultCapabilities(),
			Source:        LeafSourceKeyPackage,
			NotBefore:     0,
			NotAfter:      math.MaxUint64,
		},
	}
	if err := kp.LeafNode.sign(sig, nil, 0); err != nil {
		return nil, err
	}
	var w writer
	kp.marshalContent(&w)
	s, err := signWithLabel(sig, "KeyPackageTBS", w.b)
	if err != nil {
		return nil, err
	}
	kp.Signature = s
	return &KeyPackageBundle{KeyPackage: kp, initKey: initKey, encKey: encKey, sigKey: sig}, nil
}

// NewKeyPackageBundle wraps an existing key package with its raw private
// keys (32-byte P-256 scalars for init and encryption keys). It checks that
// the keys match the package.
func NewKeyPackageBundle(kp *KeyPackage, initPriv, encPriv []byte, sig *ecdsa.PrivateKey) (*KeyPackageBundle, error) {
	ik, err := parseHPKEPrivate(initPriv)
	if err != nil {
		return nil, err
	}
	ek, err := parseHPKEPrivate(encPriv)
	if err != nil {
		return nil, err
	}
	if string(ik.pub) != string(kp.InitKey) || string(ek.pub) != string(kp.LeafNode.EncryptionKey) {
		return nil, fmt.Errorf("%w: private keys do not match key package", ErrInvalidKey)
	}
	if sig != nil && string(SignaturePublicKey(sig)) != string(kp.LeafNode.SignatureKey) {
		return nil, fmt.Errorf("%w: signature key does not match key package", ErrInvalidKey)
	}
	return &KeyPackageBundle{KeyPackage: kp, initKey: ik, encKey: ek, sigKey: sig}, nil
}

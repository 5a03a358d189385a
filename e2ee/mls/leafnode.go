package mls

import (
	"bytes"
	"crypto/ecdsa"
	"fmt"
)

// Credential types (RFC 9420 §5.3).
const (
	CredentialBasic uint16 = 1
	CredentialX509  uint16 = 2
)

// Extension types (RFC 9420 §17.3).
const (
	ExtensionApplicationID   uint16 = 1
	ExtensionRatchetTree     uint16 = 2
	ExtensionRequiredCaps    uint16 = 3
	ExtensionExternalPub     uint16 = 4
	ExtensionExternalSenders uint16 = 5
)

// Leaf node sources (RFC 9420 §7.2).
const (
	LeafSourceKeyPackage uint8 = 1
	LeafSourceUpdate     uint8 = 2
	LeafSourceCommit     uint8 = 3
)

// Credential is an MLS credential (RFC 9420 §5.3). DAVE uses basic
// credentials whose identity is the user ID as 8 bytes big-endian. X.509
// chains are carried opaquely (Certificates) so foreign trees decode.
type Credential struct {
	Type         uint16
	Identity     []byte   // basic
	Certificates [][]byte // x509
}

// BasicCredential returns a basic credential with the given identity.
func BasicCredential(identity []byte) Credential {
	return Credential{Type: CredentialBasic, Identity: identity}
}

func (c *Credential) marshal(w *writer) {
	w.u16(c.Type)
	switch c.Type {
	case CredentialBasic:
		w.bytes(c.Identity)
	case CredentialX509:
		w.vec(func(w *writer) {
			for _, cert := range c.Certificates {
				w.bytes(cert)
			}
		})
	}
}

func (c *Credential) unmarshal(r *reader) {
	c.Type = r.u16()
	switch c.Type {
	case CredentialBasic:
		c.Identity = r.bytes()
	case CredentialX509:
		r.each(func(r *reader) { c.Certificates = append(c.Certificates, r.bytes()) })
	default:
		r.fail(fmt.Errorf("%w: credential type %d", ErrUnsupported, c.Type))
	}
}

func (c *Credential) equal(o *Credential) bool {
	if c.Type != o.Type || !bytes.Equal(c.Identity, o.Identity) || len(c.Certificates) != len(o.Certificates) {
		return false
	}
	for i := range c.Certificates {
		if !bytes.Equal(c.Certificates[i], o.Certificates[i]) {
			return false
		}
	}
	return true
}

// Capabilities lists what a member supports (RFC 9420 §7.2).
type Capabilities struct {
	Versions     []uint16
	CipherSuites []uint16
	Extensions   []uint16
	Proposals    []uint16
	Credentials  []uint16
}

// DefaultCapabilities is what DAVE members advertise (dave.md §1).
func DefaultCapabilities() Capabilities {
	return Capabilities{
		Versions:     []uint16{ProtocolVersion},
		CipherSuites: []uint16{CipherSuite},
		Credentials:  []uint16{CredentialBasic},
	}
}

func (c *Capabilities) marshal(w *writer) {
	w.u16s(c.Versions)
	w.u16s(c.CipherSuites)
	w.u16s(c.Extensions)
	w.u16s(c.Proposals)
	w.u16s(c.Credentials)
}

func (c *Capabilities) unmarshal(r *reader) {
	c.Versions = r.u16s()
	c.CipherSuites = r.u16s()
	c.Extensions = r.u16s()
	c.Proposals = r.u16s()
	c.Credentials = r.u16s()
}

// Extension is a typed extension blob (RFC 9420 §13).
type Extension struct {
	Type uint16
	Data []byte
}

func marshalExtensions(w *writer, exts []Extension) {
	w.vec(func(w *writer) {
		for _, e := range exts {
			w.u16(e.Type)
			w.bytes(e.Data)
		}
	})
}

func unmarshalExtensions(r *reader) []Extension {
	var out []Extension
	r.each(func(r *reader) {
		e := Extension{Type: r.u16(), Data: r.bytes()}
		for _, o := range out {
			if o.Type == e.Type {
				r.failf("duplicate extension %d", e.Type)
			}
		}
		out = append(out, e)
	})
	return out
}

func findExtension(exts []Extension, typ uint16) *Extension {
	for i := range exts {
		if exts[i].Type == typ {
			return &exts[i]
		}
	}
	return nil
}

// LeafNode is a member's leaf (RFC 9420 §7.2).
type LeafNode struct {
	EncryptionKey []byte
	SignatureKey  []byte
	Credential    Credential
	Capabilities  Capabilities
	Source        uint8
	NotBefore     uint64 // source key_package
	NotAfter      uint64 // source key_package
	ParentHash    []byte // source commit
	Extensions    []Extension
	Signature     []byte
}

func (l *LeafNode) marshalContent(w *writer) {
	w.bytes(l.EncryptionKey)
	w.bytes(l.SignatureKey)
	l.Credential.marshal(w)
	l.Capabilities.marshal(w)
	w.u8(l.Source)
	switch l.Source {
	case LeafSourceKeyPackage:
		w.u64(l.NotBefore)
		w.u64(l.NotAfter)
	case LeafSourceCommit:
		w.bytes(l.ParentHash)
	}
	marshalExtensions(w, l.Extensions)
}

func (l *LeafNode) marshal(w *writer) {
	l.marshalContent(w)
	w.bytes(l.Signature)
}

func (l *LeafNode) unmarshal(r *reader) {
	l.EncryptionKey = r.bytes()
	l.SignatureKey = r.bytes()
	l.Credential.unmarshal(r)
	l.Capabilities.unmarshal(r)
	l.Source = r.u8()
	switch l.Source {
	case LeafSourceKeyPackage:
		l.NotBefore = r.u64()
		l.NotAfter = r.u64()
	case LeafSourceUpdate:
	case LeafSourceCommit:
		l.ParentHash = r.bytes()
	default:
		r.failf("leaf node source %d", l.Source)
	}
	l.Extensions = unmarshalExtensions(r)
	l.Signature = r.bytes()
}

// Marshal returns the LeafNode encoding.
func (l *LeafNode) Marshal() []byte {
	var w writer
	l.marshal(&w)
	return w.b
}

// Identity returns the basic credential identity (nil for other types).
func (l *LeafNode) Identity() []byte {
	if l.Credential.Type != CredentialBasic {
		return nil
	}
	return l.Credential.Identity
}

// tbs is LeafNodeTBS: group ID and leaf index are bound for update and
// commit sources.
func (l *LeafNode) tbs(groupID []byte, leaf uint32) []byte {
	var w writer
	l.marshalContent(&w)
	if l.Source == LeafSourceUpdate || l.Source == LeafSourceCommit {
		w.bytes(groupID)
		w.u32(leaf)
	}
	return w.b
}

func (l *LeafNode) sign(key *ecdsa.PrivateKey, groupID []byte, leaf uint32) error {
	sig, err := signWithLabel(key, "LeafNodeTBS", l.tbs(groupID, leaf))
	if err != nil {
		return err
	}
	l.Signature = sig
	return nil
}

// VerifySignature checks the leaf signature. groupID and leaf are ignored
// for key-package leaves.
func (l *LeafNode) VerifySignature(groupID []byte, leaf uint32) error {
	return verifyWithLabel(l.SignatureKey, "LeafNodeTBS", l.Signature, l.tbs(groupID, leaf))
}

// validate checks suite-level rules common to every leaf (RFC 9420 §7.3):
// key formats, supported credential and capabilities.
func (l *LeafNode) validate() error {
	if !validPublicKey(l.EncryptionKey) {
		return fmt.Errorf("%w: leaf encryption key", ErrInvalidKey)
	}
	if !validPublicKey(l.SignatureKey) {
		return fmt.Errorf("%w: leaf signature key", ErrInvalidKey)
	}
	if !containsU16(l.Capabilities.Credentials, l.Credential.Type) {
		return fmt.Errorf("%w: credential type %d not in capabilities", ErrInvalidProposal, l.Credential.Type)
	}
	for _, e := range l.Extensions {
		if !containsU16(l.Capabilities.Extensions, e.Type) && e.Type > ExtensionExternalSenders {
			return fmt.Errorf("%w: leaf extension %d not in capabilities", ErrInvalidProposal, e.Type)
		}
	}
	return nil
}

func containsU16(list []uint16, v uint16) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

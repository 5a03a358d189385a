package mls

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"fmt"
)

// GroupInfo describes a group for joiners (RFC 9420 §12.4.3).
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      []Extension
	ConfirmationTag []byte
	Signer          uint32
	Signature       []byte
}

func (g *GroupInfo) marshalTBS(w *writer) {
	g.GroupContext.marshal(w)
	marshalExtensions(w, g.Extensions)
	w.bytes(g.ConfirmationTag)
	w.u32(g.Signer)
}

func (g *GroupInfo) marshal(w *writer) {
	g.marshalTBS(w)
	w.bytes(g.Signature)
}

func (g *GroupInfo) unmarshal(r *reader) {
	g.GroupContext.unmarshal(r)
	g.Extensions = unmarshalExtensions(r)
	g.ConfirmationTag = r.bytes()
	g.Signer = r.u32()
	g.Signature = r.bytes()
}

// signedEncoding signs g and returns its encoding, marshalling the (large,
// ratchet tree carrying) GroupInfoTBS once for both.
func (g *GroupInfo) signedEncoding(key *ecdsa.PrivateKey, sizeHint int) ([]byte, error) {
	w := writer{b: make([]byte, 0, sizeHint+512)}
	g.marshalTBS(&w)
	sig, err := signWithLabel(key, "GroupInfoTBS", w.b)
	if err != nil {
		return nil, err
	}
	g.Signature = sig
	w.bytes(sig)
	return w.b, nil
}

func (g *GroupInfo) verify(pub []byte) error {
	var w writer
	g.marshalTBS(&w)
	return verifyWithLabel(pub, "GroupInfoTBS", g.Signature, w.b)
}

// groupSecrets is GroupSecrets (RFC 9420 §12.4.3.1).
type groupSecrets struct {
	JoinerSecret []byte
	PathSecret   []byte // nil if absent
	PSKs         []PreSharedKeyID
}

func (s *groupSecrets) marshal(w *writer) {
	w.bytes(s.JoinerSecret)
	w.optional(s.PathSecret != nil, func(w *writer) { w.bytes(s.PathSecret) })
	w.vec(func(w *writer) {
		for i := range s.PSKs {
			s.PSKs[i].marshal(w)
		}
	})
}

func (s *groupSecrets) unmarshal(r *reader) {
	s.JoinerSecret = r.bytes()
	if r.optional() {
		s.PathSecret = r.bytes()
	}
	r.each(func(r *reader) {
		var p PreSharedKeyID
		p.unmarshal(r)
		s.PSKs = append(s.PSKs, p)
	})
}

// EncryptedGroupSecrets is one joiner's entry in a Welcome.
type EncryptedGroupSecrets struct {
	NewMember             KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

// Welcome invites new members (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        uint16
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (wl *Welcome) marshal(w *writer) {
	w.u16(wl.CipherSuite)
	w.vec(func(w *writer) {
		for i := range wl.Secrets {
			w.bytes(wl.Secrets[i].NewMember)
			wl.Secrets[i].EncryptedGroupSecrets.marshal(w)
		}
	})
	w.bytes(wl.EncryptedGroupInfo)
}

func (wl *Welcome) unmarshal(r *reader) {
	wl.CipherSuite = r.u16()
	r.each(func(r *reader) {
		var s EncryptedGroupSecrets
		s.NewMember = r.bytes()
		s.EncryptedGroupSecrets.unmarshal(r)
		wl.Secrets = append(wl.Secrets, s)
	})
	wl.EncryptedGroupInfo = r.bytes()
}

// Marshal returns the bare Welcome encoding (what DAVE ops 28 and 30 carry).
func (wl *Welcome) Marshal() []byte {
	var w writer
	wl.marshal(&w)
	return w.b
}

// ParseWelcome decodes a Welcome. It accepts a bare Welcome or an
// MLSMessage with wire format welcome.
func ParseWelcome(b []byte) (*Welcome, error) {
	if len(b) >= 4 && b[0] == 0 && b[1] == 1 && b[2] == 0 && b[3] == byte(WireFormatWelcome) {
		b = b[4:]
	}
	r := newReader(b)
	wl := new(Welcome)
	wl.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("welcome: %w", err)
	}
	return wl, nil
}

// ParseWelcomePrefix decodes a bare Welcome from the start of b and returns
// the remaining bytes.
func ParseWelcomePrefix(b []byte) (*Welcome, []byte, error) {
	r := newReader(b)
	wl := new(Welcome)
	wl.unmarshal(r)
	if r.err != nil {
		return nil, nil, fmt.Errorf("welcome: %w", r.err)
	}
	return wl, r.b, nil
}

// ForMember returns a bare Welcome holding only the secrets entry for ref,
// with encrypted_group_info unchanged (dave.md §5, splitting op 28 into op 30).
func (wl *Welcome) ForMember(ref KeyPackageRef) ([]byte, error) {
	for _, s := range wl.Secrets {
		if bytes.Equal(s.NewMember, ref) {
			one := Welcome{CipherSuite: wl.CipherSuite, Secrets: []EncryptedGroupSecrets{s}, EncryptedGroupInfo: wl.EncryptedGroupInfo}
			return one.Marshal(), nil
		}
	}
	return nil, fmt.Errorf("%w: no welcome secrets for key package %x", ErrNotForMe, []byte(ref))
}

// welcomeAEAD returns the AEAD and nonce for encrypted_group_info.
func welcomeAEAD(welcomeSecret []byte) (cipher.AEAD, []byte, error) {
	key := expandWithLabel(welcomeSecret, "key", nil, aeadKey)
	nonce := expandWithLabel(welcomeSecret, "nonce", nil, aeadNonce)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, nonce, nil
}

// decryptWelcome finds kp's entry in wl, decrypts the group secrets and the
// GroupInfo, and returns both. psks resolves external PSK IDs.
func decryptWelcome(wl *Welcome, kp *KeyPackageBundle, psks PSKStore) (*groupSecrets, *GroupInfo, []byte, error) {
	if wl.CipherSuite != CipherSuite {
		return nil, nil, nil, fmt.Errorf("%w: cipher suite %d", ErrUnsupported, wl.CipherSuite)
	}
	ref := kp.KeyPackage.Ref()
	var entry *EncryptedGroupSecrets
	for i := range wl.Secrets {
		if bytes.Equal(wl.Secrets[i].NewMember, ref) {
			entry = &wl.Secrets[i]
			break
		}
	}
	if entry == nil {
		return nil, nil, nil, ErrNotForMe
	}
	pt, err := decryptWithLabel(kp.initKey, "Welcome", wl.EncryptedGroupInfo, entry.EncryptedGroupSecrets)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("group secrets: %w", err)
	}
	r := newReader(pt)
	gs := new(groupSecrets)
	gs.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, nil, nil, fmt.Errorf("group secrets: %w", err)
	}
	pskSecret, err := computePSKSecret(gs.PSKs, psks)
	if err != nil {
		return nil, nil, nil, err
	}
	ikm := pskSecret
	if ikm == nil {
		ikm = make([]byte, hashLen)
	}
	memberSecret := extract(gs.JoinerSecret, ikm)
	welcomeSecret := deriveSecret(memberSecret, "welcome")
	aead, nonce, err := welcomeAEAD(welcomeSecret)
	if err != nil {
		return nil, nil, nil, err
	}
	giBytes, err := aead.Open(nil, nonce, wl.EncryptedGroupInfo, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: group info: %v", ErrDecrypt, err)
	}
	gr := newReader(giBytes)
	gi := new(GroupInfo)
	gi.unmarshal(gr)
	if err := gr.finish(); err != nil {
		return nil, nil, nil, fmt.Errorf("group info: %w", err)
	}
	return gs, gi, pskSecret, nil
}

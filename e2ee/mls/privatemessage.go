package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// PrivateMessage unprotection (RFC 9420 §6.3). DAVE never sends
// PrivateMessages; this exists to check the secret tree and framing
// against the message-protection vectors and is not wired into Group.

func aesGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// unprotectPrivate decrypts m into a FramedContent and its auth data
// (signature in Signature, confirmation tag for commits). nLeaves is the
// group's leaf count (a power of two) for the secret tree. It does not
// verify the signature.
func unprotectPrivate(m *PrivateMessage, senderDataSecret, encryptionSecret []byte, nLeaves uint32) (*PublicMessage, error) {
	key, nonce := senderDataKey(senderDataSecret, m.Ciphertext)
	aead, err := aesGCM(key)
	if err != nil {
		return nil, err
	}
	var aad writer
	aad.bytes(m.GroupID)
	aad.u64(m.Epoch)
	aad.u8(uint8(m.ContentType))
	sd, err := aead.Open(nil, nonce, m.EncryptedSenderData, aad.b)
	if err != nil {
		return nil, fmt.Errorf("%w: sender data: %v", ErrDecrypt, err)
	}
	r := newReader(sd)
	leaf, generation, guard := r.u32(), r.u32(), r.take(4)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("sender data: %w", err)
	}
	if leaf >= nLeaves {
		return nil, fmt.Errorf("%w: sender leaf %d", ErrUnknownMember, leaf)
	}
	label := "handshake"
	if m.ContentType == ContentApplication {
		label = "application"
	}
	ck, cn := ratchetKey(leafSecret(encryptionSecret, leaf, nLeaves), label, generation)
	for i := range guard {
		cn[i] ^= guard[i]
	}
	aead, err = aesGCM(ck)
	if err != nil {
		return nil, err
	}
	var caad writer
	caad.bytes(m.GroupID)
	caad.u64(m.Epoch)
	caad.u8(uint8(m.ContentType))
	caad.bytes(m.AuthenticatedData)
	pt, err := aead.Open(nil, cn, m.Ciphertext, caad.b)
	if err != nil {
		return nil, fmt.Errorf("%w: content: %v", ErrDecrypt, err)
	}
	pm := &PublicMessage{Content: FramedContent{
		GroupID:           m.GroupID,
		Epoch:             m.Epoch,
		Sender:            Sender{Type: SenderMember, Index: leaf},
		AuthenticatedData: m.AuthenticatedData,
	}}
	// PrivateMessageContent: body, auth data, zero padding.
	body := append([]byte{byte(m.ContentType)}, pt...)
	br := newReader(body)
	pm.Content.unmarshalBody(br)
	pm.Signature = br.bytes()
	if m.ContentType == ContentCommit {
		pm.ConfirmationTag = br.bytes()
	}
	if br.err != nil {
		return nil, fmt.Errorf("private content: %w", br.err)
	}
	for _, b := range br.b {
		if b != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return pm, nil
}

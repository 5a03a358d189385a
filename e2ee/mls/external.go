package mls

import (
	"crypto/ecdsa"
	"fmt"
)

// ExternalSenderEntry is one entry of the external_senders group context
// extension (RFC 9420 §12.1.8.1). Its encoding is DAVE op 25's payload.
type ExternalSenderEntry struct {
	SignatureKey []byte
	Credential   Credential
}

func (e *ExternalSenderEntry) marshal(w *writer) {
	w.bytes(e.SignatureKey)
	e.Credential.marshal(w)
}

func (e *ExternalSenderEntry) unmarshal(r *reader) {
	e.SignatureKey = r.bytes()
	e.Credential.unmarshal(r)
}

// Marshal returns the ExternalSender encoding.
func (e *ExternalSenderEntry) Marshal() []byte {
	var w writer
	e.marshal(&w)
	return w.b
}

// ParseExternalSenderEntry decodes one ExternalSender (DAVE op 25).
func ParseExternalSenderEntry(b []byte) (*ExternalSenderEntry, error) {
	r := newReader(b)
	e := new(ExternalSenderEntry)
	e.unmarshal(r)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("external sender: %w", err)
	}
	if !validPublicKey(e.SignatureKey) {
		return nil, fmt.Errorf("%w: external sender signature key", ErrInvalidKey)
	}
	return e, nil
}

// ExternalSendersExtension builds the external_senders group context
// extension.
func ExternalSendersExtension(senders ...ExternalSenderEntry) Extension {
	var w writer
	w.vec(func(w *writer) {
		for i := range senders {
			senders[i].marshal(w)
		}
	})
	return Extension{Type: ExtensionExternalSenders, Data: w.b}
}

// parseExternalSenders decodes the external_senders extension data.
func parseExternalSenders(data []byte) ([]ExternalSenderEntry, error) {
	r := newReader(data)
	var out []ExternalSenderEntry
	r.each(func(r *reader) {
		var e ExternalSenderEntry
		e.unmarshal(r)
		out = append(out, e)
	})
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("external senders: %w", err)
	}
	return out, nil
}

// ExternalSender is the delivery service's signer (the DAVE gateway). It
// signs Add and Remove proposals as PublicMessages with sender type
// external; those carry no GroupContext in their signature, so it needs no
// group secret and one proposal is valid in every member's copy of an epoch
// (dave.md §5).
type ExternalSender struct {
	key   *ecdsa.PrivateKey
	entry ExternalSenderEntry
	index uint32
}

// NewExternalSender wraps a P-256 signature key with a basic credential.
// The sender is index 0 of the group's external_senders, as in DAVE.
func NewExternalSender(key *ecdsa.PrivateKey, identity []byte) *ExternalSender {
	return &ExternalSender{key: key, entry: ExternalSenderEntry{SignatureKey: SignaturePublicKey(key), Credential: BasicCredential(identity)}}
}

// Entry returns the external_senders entry (encode with Marshal for op 25).
func (s *ExternalSender) Entry() ExternalSenderEntry { return s.entry }

// Extension returns the external_senders extension naming only s.
func (s *ExternalSender) Extension() Extension { return ExternalSendersExtension(s.entry) }

// SignAddProposal returns an MLSMessage carrying an external Add of
// keyPackage for groupID at epoch, and its ProposalRef. The key package is
// parsed and verified first.
func (s *ExternalSender) SignAddProposal(groupID []byte, epoch uint64, keyPackage []byte) ([]byte, ProposalRef, error) {
	kp, err := ParseKeyPackage(keyPackage)
	if err != nil {
		return nil, nil, err
	}
	if err := kp.Verify(); err != nil {
		return nil, nil, err
	}
	return s.sign(groupID, epoch, &Proposal{Type: ProposalAdd, KeyPackage: kp})
}

// SignRemoveProposal returns an MLSMessage carrying an external Remove of
// leaf for groupID at epoch, and its ProposalRef.
func (s *ExternalSender) SignRemoveProposal(groupID []byte, epoch uint64, leaf uint32) ([]byte, ProposalRef, error) {
	return s.sign(groupID, epoch, &Proposal{Type: ProposalRemove, Removed: leaf})
}

func (s *ExternalSender) sign(groupID []byte, epoch uint64, p *Proposal) ([]byte, ProposalRef, error) {
	pm := &PublicMessage{Content: FramedContent{
		GroupID:           groupID,
		Epoch:             epoch,
		Sender:            Sender{Type: SenderExternal, Index: s.index},
		AuthenticatedData: []byte{},
		ContentType:       ContentProposal,
		Proposal:          p,
	}}
	if err := pm.sign(s.key, nil); err != nil {
		return nil, nil, err
	}
	msg := (&MLSMessage{WireFormat: WireFormatPublicMessage, Public: pm}).Marshal()
	return msg, proposalRef(pm.authenticatedContent()), nil
}

// ProposalRefOf computes the ProposalRef of a proposal MLSMessage (public
// wire format).
func ProposalRefOf(msg []byte) (ProposalRef, error) {
	m, err := ParseMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireFormatPublicMessage || m.Public.Content.ContentType != ContentProposal {
		return nil, fmt.Errorf("%w: not a public proposal message", ErrMalformed)
	}
	return proposalRef(m.Public.authenticatedContent()), nil
}

package mls

import (
	"crypto/ecdsa"
	"fmt"
)

// WireFormat values (RFC 9420 §6).
type WireFormat uint16

// Wire formats.
const (
	WireFormatPublicMessage  WireFormat = 1
	WireFormatPrivateMessage WireFormat = 2
	WireFormatWelcome        WireFormat = 3
	WireFormatGroupInfo      WireFormat = 4
	WireFormatKeyPackage     WireFormat = 5
)

// SenderType values (RFC 9420 §6).
type SenderType uint8

// Sender types.
const (
	SenderMember            SenderType = 1
	SenderExternal          SenderType = 2
	SenderNewMemberProposal SenderType = 3
	SenderNewMemberCommit   SenderType = 4
)

// ContentType values (RFC 9420 §6).
type ContentType uint8

// Content types.
const (
	ContentApplication ContentType = 1
	ContentProposal    ContentType = 2
	ContentCommit      ContentType = 3
)

// Sender identifies who framed a message. Index is the leaf index for
// members and the external_senders index for external senders.
type Sender struct {
	Type  SenderType
	Index uint32
}

func (s *Sender) marshal(w *writer) {
	w.u8(uint8(s.Type))
	if s.Type == SenderMember || s.Type == SenderExternal {
		w.u32(s.Index)
	}
}

func (s *Sender) unmarshal(r *reader) {
	s.Type = SenderType(r.u8())
	switch s.Type {
	case SenderMember, SenderExternal:
		s.Index = r.u32()
	case SenderNewMemberProposal, SenderNewMemberCommit:
	default:
		r.failf("sender type %d", s.Type)
	}
}

// FramedContent is the signed content of a handshake or application
// message (RFC 9420 §6).
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte
	Proposal          *Proposal
	Commit            *Commit
}

func (c *FramedContent) marshal(w *writer) {
	w.bytes(c.GroupID)
	w.u64(c.Epoch)
	c.Sender.marshal(w)
	w.bytes(c.AuthenticatedData)
	c.marshalBody(w)
}

func (c *FramedContent) marshalBody(w *writer) {
	w.u8(uint8(c.ContentType))
	switch c.ContentType {
	case ContentApplication:
		w.bytes(c.ApplicationData)
	case ContentProposal:
		c.Proposal.marshal(w)
	case ContentCommit:
		c.Commit.marshal(w)
	}
}

func (c *FramedContent) unmarshal(r *reader) {
	c.GroupID = r.bytes()
	c.Epoch = r.u64()
	c.Sender.unmarshal(r)
	c.AuthenticatedData = r.bytes()
	c.unmarshalBody(r)
}

func (c *FramedContent) unmarshalBody(r *reader) {
	c.ContentType = ContentType(r.u8())
	switch c.ContentType {
	case ContentApplication:
		c.ApplicationData = r.bytes()
	case ContentProposal:
		c.Proposal = new(Proposal)
		c.Proposal.unmarshal(r)
	case ContentCommit:
		c.Commit = new(Commit)
		c.Commit.unmarshal(r)
	default:
		r.failf("content type %d", c.ContentType)
	}
}

// tbs is FramedContentTBS (RFC 9420 §6.1). ctx is the serialized
// GroupContext, required for member and new-member-commit senders.
func (c *FramedContent) tbs(wf WireFormat, ctx []byte) []byte {
	var w writer
	w.u16(ProtocolVersion)
	w.u16(uint16(wf))
	c.marshal(&w)
	if c.Sender.Type == SenderMember || c.Sender.Type == SenderNewMemberCommit {
		w.raw(ctx)
	}
	return w.b
}

// PublicMessage is a signed, unencrypted handshake message (RFC 9420 §6.2).
type PublicMessage struct {
	Content         FramedContent
	Signature       []byte
	ConfirmationTag []byte // commits only
	MembershipTag   []byte // member senders only

	// content caches the encoding of Content for the signature, tags,
	// transcript hash and references computed from it (a commit after a
	// mass Add is tens of kilobytes). Set by sign and on first use;
	// Content must not change afterwards.
	content []byte
}

func (m *PublicMessage) marshal(w *writer) {
	w.raw(m.contentBytes())
	m.marshalAuth(w)
	if m.Content.Sender.Type == SenderMember {
		w.bytes(m.MembershipTag)
	}
}

// contentBytes returns the (cached) FramedContent encoding.
func (m *PublicMessage) contentBytes() []byte {
	if m.content == nil {
		var w writer
		m.Content.marshal(&w)
		m.content = w.b
	}
	return m.content
}

// marshalAuth writes FramedContentAuthData.
func (m *PublicMessage) marshalAuth(w *writer) {
	w.bytes(m.Signature)
	if m.Content.ContentType == ContentCommit {
		w.bytes(m.ConfirmationTag)
	}
}

func (m *PublicMessage) unmarshal(r *reader) {
	m.Content.unmarshal(r)
	m.Signature = r.bytes()
	if m.Content.ContentType == ContentCommit {
		m.ConfirmationTag = r.bytes()
	}
	if m.Content.Sender.Type == SenderMember {
		m.MembershipTag = r.bytes()
	}
}

var publicTBSHeader = []byte{byte(ProtocolVersion >> 8), byte(ProtocolVersion), 0, byte(WireFormatPublicMessage)}

// tbs returns FramedContentTBS (RFC 9420 §6.1) as parts to concatenate.
func (m *PublicMessage) tbs(ctx []byte) [][]byte {
	if m.Content.Sender.Type == SenderMember || m.Content.Sender.Type == SenderNewMemberCommit {
		return [][]byte{publicTBSHeader, m.contentBytes(), ctx}
	}
	return [][]byte{publicTBSHeader, m.contentBytes()}
}

// sign sets the signature over FramedContentTBS.
func (m *PublicMessage) sign(key *ecdsa.PrivateKey, ctx []byte) error {
	m.content = nil
	sig, err := signWithLabel(key, "FramedContentTBS", m.tbs(ctx)...)
	if err != nil {
		return err
	}
	m.Signature = sig
	return nil
}

func (m *PublicMessage) verify(pub, ctx []byte) error {
	return verifyWithLabel(pub, "FramedContentTBS", m.Signature, m.tbs(ctx)...)
}

// membershipTag computes MAC(membership_key, AuthenticatedContentTBM).
func (m *PublicMessage) membershipTag(key, ctx []byte) []byte {
	var w writer
	m.marshalAuth(&w)
	return macParts(key, append(m.tbs(ctx), w.b)...)
}

// authenticatedContent returns AuthenticatedContent as parts to
// concatenate.
func (m *PublicMessage) authenticatedContent() [][]byte {
	var w writer
	m.marshalAuth(&w)
	return [][]byte{publicTBSHeader[2:], m.contentBytes(), w.b}
}

// proposalRef is RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent).
func proposalRef(authenticatedContent [][]byte) ProposalRef {
	return refHash("MLS 1.0 Proposal Reference", authenticatedContent...)
}

// PrivateMessage is an encrypted message (RFC 9420 §6.3). This package
// parses it but DAVE never sends one.
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

func (m *PrivateMessage) marshal(w *writer) {
	w.bytes(m.GroupID)
	w.u64(m.Epoch)
	w.u8(uint8(m.ContentType))
	w.bytes(m.AuthenticatedData)
	w.bytes(m.EncryptedSenderData)
	w.bytes(m.Ciphertext)
}

func (m *PrivateMessage) unmarshal(r *reader) {
	m.GroupID = r.bytes()
	m.Epoch = r.u64()
	m.ContentType = ContentType(r.u8())
	if m.ContentType < ContentApplication || m.ContentType > ContentCommit {
		r.failf("content type %d", m.ContentType)
	}
	m.AuthenticatedData = r.bytes()
	m.EncryptedSenderData = r.bytes()
	m.Ciphertext = r.bytes()
}

// MLSMessage is the top-level framing (RFC 9420 §6). Exactly the field
// matching WireFormat is set.
type MLSMessage struct {
	WireFormat WireFormat
	Public     *PublicMessage
	Private    *PrivateMessage
	Welcome    *Welcome
	GroupInfo  *GroupInfo
	KeyPackage *KeyPackage
}

func (m *MLSMessage) marshal(w *writer) {
	w.u16(ProtocolVersion)
	w.u16(uint16(m.WireFormat))
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public.marshal(w)
	case WireFormatPrivateMessage:
		m.Private.marshal(w)
	case WireFormatWelcome:
		m.Welcome.marshal(w)
	case WireFormatGroupInfo:
		m.GroupInfo.marshal(w)
	case WireFormatKeyPackage:
		m.KeyPackage.marshal(w)
	}
}

func (m *MLSMessage) unmarshal(r *reader) {
	if v := r.u16(); v != ProtocolVersion && r.err == nil {
		r.fail(fmt.Errorf("%w: protocol version %d", ErrUnsupported, v))
		return
	}
	m.WireFormat = WireFormat(r.u16())
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.Public = new(PublicMessage)
		m.Public.unmarshal(r)
	case WireFormatPrivateMessage:
		m.Private = new(PrivateMessage)
		m.Private.unmarshal(r)
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
		m.Welcome.unmarshal(r)
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
		m.GroupInfo.unmarshal(r)
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
		m.KeyPackage.unmarshal(r)
	default:
		r.failf("wire format %d", m.WireFormat)
	}
}

// Marshal returns the MLSMessage encoding.
func (m *MLSMessage) Marshal() []byte {
	var w writer
	m.marshal(&w)
	return w.b
}

// ParseMLSMessage decodes one MLSMessage that must fill b exactly.
func ParseMLSMessage(b []byte) (*MLSMessage, error) {
	m, rest, err := ParseMLSMessagePrefix(b)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("mls message: %w: %d bytes", ErrTrailingData, len(rest))
	}
	return m, nil
}

// ParseMLSMessagePrefix decodes one MLSMessage from the start of b and
// returns the remaining bytes (DAVE op 28 is a commit immediately followed
// by a bare Welcome).
func ParseMLSMessagePrefix(b []byte) (*MLSMessage, []byte, error) {
	r := newReader(b)
	m := new(MLSMessage)
	m.unmarshal(r)
	if r.err != nil {
		return nil, nil, fmt.Errorf("mls message: %w", r.err)
	}
	return m, r.b, nil
}

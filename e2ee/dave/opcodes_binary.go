package dave

import (
	"encoding/binary"
	"fmt"
)

// Binary DAVE opcodes 25-30 (dave.md §3). Server→client frames are
// "u16 BE sequence ‖ u8 opcode ‖ payload"; client→server frames are
// "u8 opcode ‖ payload". Decoded byte fields alias the input frame.

// BinaryMessage is a payload of a binary opcode.
type BinaryMessage interface {
	Message
	// AppendPayload appends the payload (without sequence or opcode).
	AppendPayload(dst []byte) ([]byte, error)
}

// ProposalsOp is the operation of an op 27 message.
type ProposalsOp uint8

// Proposals operations.
const (
	ProposalsAppend ProposalsOp = 0 // concatenated proposal MLSMessages
	ProposalsRevoke ProposalsOp = 1 // concatenated ProposalRef<V>
)

// ExternalSenderPackage (op 25, S→C) is the MLS ExternalSender the clients
// put into their group's external_senders extension:
// signature_key<V> ‖ Credential{u16 credential_type, identity<V>}.
type ExternalSenderPackage struct {
	SignatureKey   []byte // 65-byte uncompressed P-256 point
	CredentialType uint16 // 1 = basic
	Identity       []byte
}

// KeyPackageMessage (op 26, C→S) carries a member's KeyPackage. libdave and
// davey send a bare KeyPackage; an MLSMessage-wrapped one (u16 1 ‖ u16 5 ‖
// KeyPackage) is unwrapped on decode.
type KeyPackageMessage struct {
	KeyPackage []byte // bare KeyPackage
}

// ProposalsMessage (op 27, S→C): u8 op ‖ <V>data, where data is
// concatenated proposal MLSMessages (append) or concatenated ProposalRef<V>
// (revoke).
type ProposalsMessage struct {
	Op   ProposalsOp
	Data []byte // vector content, without its length prefix
}

// CommitWelcome (op 28, C→S): a commit MLSMessage immediately followed by a
// bare Welcome when the commit adds members. Splitting needs an MLS parser
// (the commit has no length prefix).
type CommitWelcome struct {
	Data []byte
}

// AnnounceCommitTransition (op 29, S→C): u16 transition_id ‖ commit
// MLSMessage.
type AnnounceCommitTransition struct {
	TransitionID uint16
	Commit       []byte
}

// WelcomeMessage (op 30, S→C): u16 transition_id ‖ bare Welcome holding only
// the receiving member's secrets.
type WelcomeMessage struct {
	TransitionID uint16
	Welcome      []byte
}

// Opcode returns 25.
func (ExternalSenderPackage) Opcode() Opcode { return OpExternalSenderPackage }

// Opcode returns 26.
func (KeyPackageMessage) Opcode() Opcode { return OpKeyPackage }

// Opcode returns 27.
func (ProposalsMessage) Opcode() Opcode { return OpProposals }

// Opcode returns 28.
func (CommitWelcome) Opcode() Opcode { return OpCommitWelcome }

// Opcode returns 29.
func (AnnounceCommitTransition) Opcode() Opcode { return OpAnnounceCommitTransition }

// Opcode returns 30.
func (WelcomeMessage) Opcode() Opcode { return OpWelcome }

// AppendProposals builds an op 27 append of the given proposal MLSMessages.
func AppendProposals(msgs ...[]byte) ProposalsMessage {
	var data []byte
	for _, m := range msgs {
		data = append(data, m...)
	}
	return ProposalsMessage{Op: ProposalsAppend, Data: data}
}

// RevokeProposals builds an op 27 revoke of the given ProposalRefs.
// Errors: ErrField if a ref is longer than an MLS vector allows.
func RevokeProposals(refs ...[]byte) (ProposalsMessage, error) {
	var data []byte
	for _, r := range refs {
		if len(r) > maxVarint {
			return ProposalsMessage{}, fmt.Errorf("%w: proposal ref of %d bytes", ErrField, len(r))
		}
		data = appendVector(data, r)
	}
	return ProposalsMessage{Op: ProposalsRevoke, Data: data}, nil
}

// Refs splits a revoke's data into ProposalRefs (aliasing m.Data).
// Errors: ErrField for an append, ErrVarint/ErrShortMessage for bad data.
func (m ProposalsMessage) Refs() ([][]byte, error) {
	if m.Op != ProposalsRevoke {
		return nil, fmt.Errorf("%w: refs of a proposals op %d", ErrField, m.Op)
	}
	var refs [][]byte
	for b := m.Data; len(b) > 0; {
		r, n, err := readVector(b)
		if err != nil {
			return nil, err
		}
		refs = append(refs, r)
		b = b[n:]
	}
	return refs, nil
}

func checkVector(name string, b []byte) error {
	if len(b) > maxVarint {
		return fmt.Errorf("%w: %s of %d bytes", ErrField, name, len(b))
	}
	return nil
}

// AppendPayload encodes op 25.
func (m ExternalSenderPackage) AppendPayload(dst []byte) ([]byte, error) {
	if err := checkVector("signature key", m.SignatureKey); err != nil {
		return dst, err
	}
	if err := checkVector("identity", m.Identity); err != nil {
		return dst, err
	}
	dst = appendVector(dst, m.SignatureKey)
	dst = binary.BigEndian.AppendUint16(dst, m.CredentialType)
	return appendVector(dst, m.Identity), nil
}

// AppendPayload encodes op 26 (a bare KeyPackage).
func (m KeyPackageMessage) AppendPayload(dst []byte) ([]byte, error) {
	return append(dst, m.KeyPackage...), nil
}

// AppendPayload encodes op 27.
func (m ProposalsMessage) AppendPayload(dst []byte) ([]byte, error) {
	if m.Op > ProposalsRevoke {
		return dst, fmt.Errorf("%w: proposals op %d", ErrField, m.Op)
	}
	if err := checkVector("proposals", m.Data); err != nil {
		return dst, err
	}
	return appendVector(append(dst, byte(m.Op)), m.Data), nil
}

// AppendPayload encodes op 28.
func (m CommitWelcome) AppendPayload(dst []byte) ([]byte, error) {
	return append(dst, m.Data...), nil
}

// AppendPayload encodes op 29.
func (m AnnounceCommitTransition) AppendPayload(dst []byte) ([]byte, error) {
	return append(binary.BigEndian.AppendUint16(dst, m.TransitionID), m.Commit...), nil
}

// AppendPayload encodes op 30.
func (m WelcomeMessage) AppendPayload(dst []byte) ([]byte, error) {
	return append(binary.BigEndian.AppendUint16(dst, m.TransitionID), m.Welcome...), nil
}

// AppendServerFrame appends a server→client binary frame (u16 BE seq ‖ op ‖
// payload). Errors: ErrWrongDirection for client opcodes, or the payload's
// encoding error.
func AppendServerFrame(dst []byte, seq uint16, m BinaryMessage) ([]byte, error) {
	if !m.Opcode().FromServer() {
		return dst, fmt.Errorf("%w: %v is sent by clients", ErrWrongDirection, m.Opcode())
	}
	start := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, seq)
	dst = append(dst, byte(m.Opcode()))
	out, err := m.AppendPayload(dst)
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// AppendClientFrame appends a client→server binary frame (op ‖ payload).
// Errors: ErrWrongDirection for server opcodes, or the payload's error.
func AppendClientFrame(dst []byte, m BinaryMessage) ([]byte, error) {
	if m.Opcode().FromServer() {
		return dst, fmt.Errorf("%w: %v is sent by the server", ErrWrongDirection, m.Opcode())
	}
	start := len(dst)
	out, err := m.AppendPayload(append(dst, byte(m.Opcode())))
	if err != nil {
		return dst[:start], err
	}
	return out, nil
}

// DecodeServerFrame decodes a server→client binary frame (ops 25, 27, 29,
// 30), as a client does. Errors: ErrShortMessage, ErrUnknownOpcode,
// ErrWrongDirection, and payload errors.
func DecodeServerFrame(frame []byte) (seq uint16, m BinaryMessage, err error) {
	if len(frame) < 3 {
		return 0, nil, ErrShortMessage
	}
	seq, op := binary.BigEndian.Uint16(frame), Opcode(frame[2])
	if !op.IsBinary() {
		return seq, nil, fmt.Errorf("%w: %d in a binary frame", ErrUnknownOpcode, op)
	}
	if !op.FromServer() {
		return seq, nil, fmt.Errorf("%w: %v from the server", ErrWrongDirection, op)
	}
	m, err = DecodeBinaryPayload(op, frame[3:])
	return seq, m, err
}

// DecodeClientFrame decodes a client→server binary frame (ops 26, 28), as
// the voice gateway does. Errors: ErrShortMessage, ErrUnknownOpcode,
// ErrWrongDirection, and payload errors.
func DecodeClientFrame(frame []byte) (BinaryMessage, error) {
	if len(frame) < 1 {
		return nil, ErrShortMessage
	}
	op := Opcode(frame[0])
	if !op.IsBinary() {
		return nil, fmt.Errorf("%w: %d in a binary frame", ErrUnknownOpcode, op)
	}
	if op.FromServer() {
		return nil, fmt.Errorf("%w: %v from a client", ErrWrongDirection, op)
	}
	return DecodeBinaryPayload(op, frame[1:])
}

// DecodeBinaryPayload decodes the payload of binary opcode op (25-30) into
// its struct value (ExternalSenderPackage, KeyPackageMessage,
// ProposalsMessage, CommitWelcome, AnnounceCommitTransition or
// WelcomeMessage). Byte fields alias payload.
func DecodeBinaryPayload(op Opcode, p []byte) (BinaryMessage, error) {
	switch op {
	case OpExternalSenderPackage:
		key, n, err := readVector(p)
		if err != nil {
			return nil, err
		}
		p = p[n:]
		if len(p) < 2 {
			return nil, ErrShortMessage
		}
		m := ExternalSenderPackage{SignatureKey: key, CredentialType: binary.BigEndian.Uint16(p)}
		id, n, err := readVector(p[2:])
		if err != nil {
			return nil, err
		}
		if len(p[2+n:]) != 0 {
			return nil, ErrTrailingData
		}
		m.Identity = id
		return m, nil
	case OpKeyPackage:
		if len(p) < 4 || p[0] != 0 || p[1] != 1 {
			return nil, fmt.Errorf("%w: key package does not start with version mls10", ErrField)
		}
		if p[2] == 0 && p[3] == 5 { // MLSMessage{mls10, key_package}
			p = p[4:]
			if len(p) < 4 {
				return nil, ErrShortMessage
			}
		}
		return KeyPackageMessage{KeyPackage: p}, nil
	case OpProposals:
		if len(p) < 1 {
			return nil, ErrShortMessage
		}
		if p[0] > byte(ProposalsRevoke) {
			return nil, fmt.Errorf("%w: proposals op %d", ErrField, p[0])
		}
		data, n, err := readVector(p[1:])
		if err != nil {
			return nil, err
		}
		if len(p[1+n:]) != 0 {
			return nil, ErrTrailingData
		}
		return ProposalsMessage{Op: ProposalsOp(p[0]), Data: data}, nil
	case OpCommitWelcome:
		if len(p) == 0 {
			return nil, ErrShortMessage
		}
		return CommitWelcome{Data: p}, nil
	case OpAnnounceCommitTransition:
		if len(p) < 3 {
			return nil, ErrShortMessage
		}
		return AnnounceCommitTransition{TransitionID: binary.BigEndian.Uint16(p), Commit: p[2:]}, nil
	case OpWelcome:
		if len(p) < 3 {
			return nil, ErrShortMessage
		}
		return WelcomeMessage{TransitionID: binary.BigEndian.Uint16(p), Welcome: p[2:]}, nil
	}
	return nil, fmt.Errorf("%w: %d is not a binary DAVE opcode", ErrUnknownOpcode, op)
}

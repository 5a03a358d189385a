package dave

import "strconv"

// Opcode is a DAVE voice-gateway opcode (dave.md §3; protocol.md "Voice
// Gateway Opcodes"). 21-24 and 31 travel as JSON {op, d}; 25-30 as binary
// WebSocket frames.
type Opcode uint8

// DAVE opcodes.
const (
	OpPrepareTransition        Opcode = 21 // S→C JSON
	OpExecuteTransition        Opcode = 22 // S→C JSON
	OpReadyForTransition       Opcode = 23 // C→S JSON
	OpPrepareEpoch             Opcode = 24 // S→C JSON
	OpExternalSenderPackage    Opcode = 25 // S→C binary
	OpKeyPackage               Opcode = 26 // C→S binary
	OpProposals                Opcode = 27 // S→C binary
	OpCommitWelcome            Opcode = 28 // C→S binary
	OpAnnounceCommitTransition Opcode = 29 // S→C binary
	OpWelcome                  Opcode = 30 // S→C binary
	OpInvalidCommitWelcome     Opcode = 31 // C→S JSON
)

// String returns the protocol.md name.
func (o Opcode) String() string {
	switch o {
	case OpPrepareTransition:
		return "dave_protocol_prepare_transition"
	case OpExecuteTransition:
		return "dave_protocol_execute_transition"
	case OpReadyForTransition:
		return "dave_protocol_ready_for_transition"
	case OpPrepareEpoch:
		return "dave_protocol_prepare_epoch"
	case OpExternalSenderPackage:
		return "dave_mls_external_sender_package"
	case OpKeyPackage:
		return "dave_mls_key_package"
	case OpProposals:
		return "dave_mls_proposals"
	case OpCommitWelcome:
		return "dave_mls_commit_welcome"
	case OpAnnounceCommitTransition:
		return "dave_mls_announce_commit_transition"
	case OpWelcome:
		return "dave_mls_welcome"
	case OpInvalidCommitWelcome:
		return "dave_mls_invalid_commit_welcome"
	}
	return "opcode(" + strconv.Itoa(int(o)) + ")"
}

// IsDAVE reports whether o is one of 21-31.
func (o Opcode) IsDAVE() bool { return o >= OpPrepareTransition && o <= OpInvalidCommitWelcome }

// IsBinary reports whether o travels as a binary frame (25-30).
func (o Opcode) IsBinary() bool { return o >= OpExternalSenderPackage && o <= OpWelcome }

// FromServer reports whether the server sends o (21, 22, 24, 25, 27, 29,
// 30); the client sends the others (23, 26, 28, 31).
func (o Opcode) FromServer() bool {
	switch o {
	case OpPrepareTransition, OpExecuteTransition, OpPrepareEpoch,
		OpExternalSenderPackage, OpProposals, OpAnnounceCommitTransition, OpWelcome:
		return true
	}
	return false
}

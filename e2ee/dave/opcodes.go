package dave

import (
	"encoding/json"
	"fmt"
)

// JSON payloads of the DAVE opcodes (the "d" of {op, d}; dave.md §3).

// Message is any DAVE opcode payload.
type Message interface {
	Opcode() Opcode
}

// PrepareTransition (op 21, S→C) announces a protocol version change.
// TransitionID 0 means execute immediately (sole-member reset, dave.md §4).
type PrepareTransition struct {
	ProtocolVersion uint16 `json:"protocol_version"`
	TransitionID    uint16 `json:"transition_id"`
}

// ExecuteTransition (op 22, S→C) tells clients to switch to a prepared
// transition.
type ExecuteTransition struct {
	TransitionID uint16 `json:"transition_id"`
}

// ReadyForTransition (op 23, C→S) says the client is ready for a transition.
type ReadyForTransition struct {
	TransitionID uint16 `json:"transition_id"`
}

// PrepareEpoch (op 24, S→C) announces an upcoming MLS epoch; Epoch 1 means
// create or re-create the group.
type PrepareEpoch struct {
	ProtocolVersion uint16 `json:"protocol_version"`
	Epoch           uint64 `json:"epoch"`
}

// InvalidCommitWelcome (op 31, C→S): the client could not process a commit
// or welcome and will reset and send a new key package.
type InvalidCommitWelcome struct {
	TransitionID uint16 `json:"transition_id"`
}

// Opcode returns 21.
func (PrepareTransition) Opcode() Opcode { return OpPrepareTransition }

// Opcode returns 22.
func (ExecuteTransition) Opcode() Opcode { return OpExecuteTransition }

// Opcode returns 23.
func (ReadyForTransition) Opcode() Opcode { return OpReadyForTransition }

// Opcode returns 24.
func (PrepareEpoch) Opcode() Opcode { return OpPrepareEpoch }

// Opcode returns 31.
func (InvalidCommitWelcome) Opcode() Opcode { return OpInvalidCommitWelcome }

// DecodeJSON decodes the "d" payload of JSON opcode op (21-24, 31) into its
// struct value (PrepareTransition, ExecuteTransition, ReadyForTransition,
// PrepareEpoch or InvalidCommitWelcome). Unknown fields are ignored.
// Errors: ErrUnknownOpcode for other opcodes, or the wrapped JSON error.
func DecodeJSON(op Opcode, d []byte) (Message, error) {
	switch op {
	case OpPrepareTransition:
		return decodeAs[PrepareTransition](op, d)
	case OpExecuteTransition:
		return decodeAs[ExecuteTransition](op, d)
	case OpReadyForTransition:
		return decodeAs[ReadyForTransition](op, d)
	case OpPrepareEpoch:
		return decodeAs[PrepareEpoch](op, d)
	case OpInvalidCommitWelcome:
		return decodeAs[InvalidCommitWelcome](op, d)
	}
	return nil, fmt.Errorf("%w: %d is not a JSON DAVE opcode", ErrUnknownOpcode, op)
}

func decodeAs[T Message](op Opcode, d []byte) (Message, error) {
	var v T
	if err := json.Unmarshal(d, &v); err != nil {
		return nil, fmt.Errorf("dave: decode %v: %w", op, err)
	}
	return v, nil
}

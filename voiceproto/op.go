package voiceproto

import (
	"strconv"

	"github.com/parleyhq/parley/e2ee/dave"
)

// Op is a voice gateway opcode (voice-protocol.md §2.2). The DAVE opcodes
// 21-31 are e2ee/dave's (dave.md §3); the ones that travel as JSON are
// named here too.
type Op int

// Voice gateway opcodes.
const (
	OpIdentify           Op = 0  // C→S
	OpSelectProtocol     Op = 1  // C→S
	OpReady              Op = 2  // S→C
	OpHeartbeat          Op = 3  // C→S
	OpSessionDescription Op = 4  // S→C
	OpSpeaking           Op = 5  // both
	OpHeartbeatACK       Op = 6  // S→C
	OpResume             Op = 7  // C→S
	OpHello              Op = 8  // S→C
	OpResumed            Op = 9  // S→C
	OpClientsConnect     Op = 11 // S→C
	OpVideo              Op = 12 // both
	OpClientDisconnect   Op = 13 // S→C
	OpSessionUpdate      Op = 14 // both
	OpMediaSinkWants     Op = 15 // both

	OpDAVEPrepareTransition    = Op(dave.OpPrepareTransition)    // S→C JSON
	OpDAVEExecuteTransition    = Op(dave.OpExecuteTransition)    // S→C JSON
	OpDAVEReadyForTransition   = Op(dave.OpReadyForTransition)   // C→S JSON
	OpDAVEPrepareEpoch         = Op(dave.OpPrepareEpoch)         // S→C JSON
	OpDAVEInvalidCommitWelcome = Op(dave.OpInvalidCommitWelcome) // C→S JSON
)

// String returns a stable snake_case name, suitable as a metric label.
func (o Op) String() string {
	switch o {
	case OpIdentify:
		return "identify"
	case OpSelectProtocol:
		return "select_protocol"
	case OpReady:
		return "ready"
	case OpHeartbeat:
		return "heartbeat"
	case OpSessionDescription:
		return "session_description"
	case OpSpeaking:
		return "speaking"
	case OpHeartbeatACK:
		return "heartbeat_ack"
	case OpResume:
		return "resume"
	case OpHello:
		return "hello"
	case OpResumed:
		return "resumed"
	case OpClientsConnect:
		return "clients_connect"
	case OpVideo:
		return "video"
	case OpClientDisconnect:
		return "client_disconnect"
	case OpSessionUpdate:
		return "session_update"
	case OpMediaSinkWants:
		return "media_sink_wants"
	}
	if o.IsDAVE() {
		return dave.Opcode(o).String()
	}
	return "op_" + strconv.Itoa(int(o))
}

// Known reports whether o is an opcode of the protocol (0-15 but 10, or a
// DAVE opcode).
func (o Op) Known() bool {
	return o >= OpIdentify && o <= OpMediaSinkWants && o != 10 || o.IsDAVE()
}

// Label is a metric label for o from a closed set: String for a known
// opcode, "unknown" for any other (a client chooses the number).
func (o Op) Label() string {
	if o.Known() {
		return o.String()
	}
	return "unknown"
}

// IsDAVE reports whether o is one of the DAVE opcodes 21-31.
func (o Op) IsDAVE() bool { return o >= 0 && o <= 255 && dave.Opcode(o).IsDAVE() }

// Numbered reports whether the server numbers o in the v8 dialect ("seq",
// replayed after a resume). Hello, Heartbeat ACK and Resumed are not
// numbered (voice-protocol.md §2.4).
func (o Op) Numbered() bool {
	switch o {
	case OpHello, OpHeartbeatACK, OpResumed:
		return false
	}
	return true
}

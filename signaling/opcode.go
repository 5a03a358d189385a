package signaling

import (
	"strconv"

	"github.com/parleyhq/parley/e2ee/dave"
)

// Op is a voice gateway opcode (voice-protocol.md §2.2).
type Op int

// Voice gateway opcodes. The DAVE opcodes 21-31 (dave.md §3) are
// e2ee/dave's; the JSON ones a client sends are named here too.
const (
	OpIdentify           Op = 0
	OpSelectProtocol     Op = 1
	OpReady              Op = 2
	OpHeartbeat          Op = 3
	OpSessionDescription Op = 4
	OpSpeaking           Op = 5
	OpHeartbeatACK       Op = 6
	OpResume             Op = 7
	OpHello              Op = 8
	OpResumed            Op = 9
	OpClientsConnect     Op = 11
	OpVideo              Op = 12
	OpClientDisconnect   Op = 13

	OpDAVEReadyForTransition   = Op(dave.OpReadyForTransition)
	OpDAVEInvalidCommitWelcome = Op(dave.OpInvalidCommitWelcome)
)

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
	}
	if d := dave.Opcode(o); o >= 0 && o <= 255 && d.IsDAVE() {
		return d.String()
	}
	return "op_" + strconv.Itoa(int(o))
}

// CloseCode is a voice gateway WebSocket close code (voice-protocol.md §2.6).
type CloseCode int

// Close codes.
const (
	CloseNormal               CloseCode = 1000
	CloseGoingAway            CloseCode = 1001
	CloseUnknownOpcode        CloseCode = 4001
	CloseDecodeError          CloseCode = 4002
	CloseNotAuthenticated     CloseCode = 4003
	CloseAuthenticationFailed CloseCode = 4004
	CloseAlreadyAuthenticated CloseCode = 4005
	CloseSessionInvalid       CloseCode = 4006
	CloseSessionTimeout       CloseCode = 4009
	CloseServerNotFound       CloseCode = 4011
	CloseUnknownProtocol      CloseCode = 4012
	CloseDisconnected         CloseCode = 4014
	CloseServerCrashed        CloseCode = 4015
	CloseUnknownEncryption    CloseCode = 4016
	CloseE2EERequired         CloseCode = 4017
	CloseBadRequest           CloseCode = 4020
	CloseRateLimited          CloseCode = 4021
	CloseCallTerminated       CloseCode = 4022
)

func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "going_away"
	case CloseUnknownOpcode:
		return "unknown_opcode"
	case CloseDecodeError:
		return "decode_error"
	case CloseNotAuthenticated:
		return "not_authenticated"
	case CloseAuthenticationFailed:
		return "authentication_failed"
	case CloseAlreadyAuthenticated:
		return "already_authenticated"
	case CloseSessionInvalid:
		return "session_invalid"
	case CloseSessionTimeout:
		return "session_timeout"
	case CloseServerNotFound:
		return "server_not_found"
	case CloseUnknownProtocol:
		return "unknown_protocol"
	case CloseDisconnected:
		return "disconnected"
	case CloseServerCrashed:
		return "server_crashed"
	case CloseUnknownEncryption:
		return "unknown_encryption_mode"
	case CloseE2EERequired:
		return "e2ee_required"
	case CloseBadRequest:
		return "bad_request"
	case CloseRateLimited:
		return "rate_limited"
	case CloseCallTerminated:
		return "call_terminated"
	}
	return strconv.Itoa(int(c))
}

// Dialect is the protocol variant selected by the ?v= query parameter
// (voice-protocol.md §2.1).
type Dialect int

// Dialects.
const (
	// DialectLegacy: no v (discordgo). Integer heartbeats, bool Speaking,
	// heartbeat interval read from Ready only.
	DialectLegacy Dialect = iota
	// DialectV4: v4..v7. Integer heartbeat nonce echoed, bitmask Speaking.
	DialectV4
	// DialectV8: v8. Heartbeat {t, seq_ack}, numbered messages, buffered
	// re-delivery on resume.
	DialectV8
)

func (d Dialect) String() string {
	switch d {
	case DialectLegacy:
		return "legacy"
	case DialectV4:
		return "v4"
	case DialectV8:
		return "v8"
	}
	return "dialect_" + strconv.Itoa(int(d))
}

// ParseDialect maps the v query parameter to a dialect.
func ParseDialect(v string) (Dialect, error) {
	if v == "" {
		return DialectLegacy, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, ErrBadVersion
	}
	switch {
	case n >= 1 && n <= 3:
		return DialectLegacy, nil
	case n >= 4 && n <= 7:
		return DialectV4, nil
	case n == 8:
		return DialectV8, nil
	}
	return 0, ErrBadVersion
}

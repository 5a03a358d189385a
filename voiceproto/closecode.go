package voiceproto

import "strconv"

// CloseCode is a voice gateway WebSocket close code (voice-protocol.md
// §2.6).
type CloseCode int

// Close codes.
const (
	CloseNormal               CloseCode = 1000
	CloseGoingAway            CloseCode = 1001
	CloseAbnormal             CloseCode = 1006 // no close frame (network failure); never sent
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

// String returns a stable snake_case name, suitable as a metric label.
func (c CloseCode) String() string {
	switch c {
	case CloseNormal:
		return "normal"
	case CloseGoingAway:
		return "going_away"
	case CloseAbnormal:
		return "abnormal"
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

// Resumable reports whether a client should resume (op 7) after the
// server closed with c: after any code below 4000 (network failures,
// 1001 going away) and after 4015 (server crashed, or the client was too
// slow to read). Every other 4xxx code ends the session, as
// @discordjs/voice decides.
func (c CloseCode) Resumable() bool { return c < 4000 || c == CloseServerCrashed }

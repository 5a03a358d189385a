package signaling

import (
	"errors"

	"github.com/parleyhq/parley/voiceproto"
)

// Sentinel errors.
var (
	ErrConfig = errors.New("signaling: invalid config")
	// ErrWebRTCOff is what a Participant's SetWebRTCTransport returns (or
	// wraps) when the media plane takes no WebRTC clients: the client is
	// refused with 4012, not as a server fault.
	ErrWebRTCOff = errors.New("signaling: the media plane takes no WebRTC clients")
)

// closeError is returned by message handlers to end a connection with a
// specific close code; cause, when set, is why (errors.Is sees it).
type closeError struct {
	code   voiceproto.CloseCode
	reason string
	cause  error
}

func (e *closeError) Error() string { return e.code.String() + ": " + e.reason }

// Unwrap returns the cause.
func (e *closeError) Unwrap() error { return e.cause }

func closeWith(code voiceproto.CloseCode, reason string) error {
	return &closeError{code: code, reason: reason}
}

// closeFor is closeWith recording the cause.
func closeFor(code voiceproto.CloseCode, reason string, cause error) error {
	return &closeError{code: code, reason: reason, cause: cause}
}

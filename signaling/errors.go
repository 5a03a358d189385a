package signaling

import "errors"

// Sentinel errors.
var (
	ErrBadVersion = errors.New("signaling: unsupported voice gateway version")
	ErrConfig     = errors.New("signaling: invalid config")
	ErrClosed     = errors.New("signaling: server closed")
)

// closeError is returned by message handlers to end a connection with a
// specific close code.
type closeError struct {
	code   CloseCode
	reason string
}

func (e *closeError) Error() string { return e.code.String() + ": " + e.reason }

func closeWith(code CloseCode, reason string) error { return &closeError{code: code, reason: reason} }

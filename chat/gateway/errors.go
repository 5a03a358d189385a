package gateway

import "errors"

// Sentinel errors.
var (
	// ErrDecode means a client payload is not a valid gateway envelope.
	ErrDecode = errors.New("gateway: decode error")
	// ErrConfig means the gateway configuration is invalid.
	ErrConfig = errors.New("gateway: invalid configuration")
	// ErrClosed means the server is shut down.
	ErrClosed = errors.New("gateway: server closed")
	// ErrStarted means Start was called twice.
	ErrStarted = errors.New("gateway: server already started")
	// ErrFrameTooLarge means a client frame exceeds Config.MaxFrame.
	ErrFrameTooLarge = errors.New("gateway: frame too large")
)

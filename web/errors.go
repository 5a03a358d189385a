package web

import "errors"

// Sentinel errors.
var (
	// ErrConfig means the origin's configuration is invalid.
	ErrConfig = errors.New("web: invalid configuration")
	// ErrNoIndex means the client's files hold no index.html.
	ErrNoIndex = errors.New("web: the client has no index.html")
	// ErrClosed means the origin is shut down.
	ErrClosed = errors.New("web: origin closed")
	// ErrStarted means Start was called twice.
	ErrStarted = errors.New("web: origin already started")
)

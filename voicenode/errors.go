package voicenode

import "errors"

// Sentinel errors.
var (
	// ErrConfig reports an unusable Config.
	ErrConfig = errors.New("voicenode: invalid config")
	// ErrClosed means Start was called after Close.
	ErrClosed = errors.New("voicenode: node closed")
	// ErrStarted means Start was called twice.
	ErrStarted = errors.New("voicenode: already started")
)

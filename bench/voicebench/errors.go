package voicebench

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	// ErrConfig means a Config field is missing or out of range.
	ErrConfig = errors.New("voicebench: invalid config")
	// ErrHandshake means a participant could not join (gateway or UDP).
	ErrHandshake = errors.New("voicebench: participant handshake failed")
	// ErrReady means a child process did not print a usable ready line.
	ErrReady = errors.New("voicebench: child process not ready")
	// ErrNoServer means the data dir names no running voice server.
	ErrNoServer = errors.New("voicebench: no running voice server in the data dir")
	// ErrPayload means a received payload is not one the generator sent.
	ErrPayload = errors.New("voicebench: not a generator payload")
	// ErrUnsupported means the platform lacks epoll/recvmmsg (Linux only).
	ErrUnsupported = errors.New("voicebench: unsupported platform (Linux only)")
)

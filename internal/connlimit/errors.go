package connlimit

import "errors"

// Sentinel errors: the cap a connection handed to Listener.Adopt is over.
var (
	// ErrPerIP means the client address holds Config.PerIP connections.
	ErrPerIP = errors.New("connlimit: too many connections from this address")
	// ErrPending means the client address holds Config.PendingPerIP
	// connections that have not authenticated yet.
	ErrPending = errors.New("connlimit: too many unauthenticated connections from this address")
)

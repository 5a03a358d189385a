package fleet

import "errors"

// Errors.
var (
	// ErrConfig wraps every configuration problem.
	ErrConfig = errors.New("fleet: invalid configuration")
	// ErrURL means a --registry value is not etcd://HOST:PORT[,HOST:PORT…].
	ErrURL = errors.New("fleet: registry URL must be etcd://HOST:PORT[,HOST:PORT...]")
	// ErrRecord means a node record in etcd is malformed; it is skipped.
	ErrRecord = errors.New("fleet: bad node record")
	// ErrNoNode means no live node has the id asked for.
	ErrNoNode = errors.New("fleet: no such live voice node")
	// ErrID means an id given to the Bus cannot be a key segment.
	ErrID = errors.New("fleet: id not usable in a key")
	// ErrCommand means a ctl/ key or value in etcd is malformed; the
	// Follower skips it and counts it.
	ErrCommand = errors.New("fleet: bad voice command")
	// ErrTokenKey means a voice-token key record in etcd (keys/) is
	// malformed; voice nodes skip it and count it.
	ErrTokenKey = errors.New("fleet: bad voice-token key record")
	// ErrNoKey means no voice-token key has the id asked for.
	ErrNoKey = errors.New("fleet: no such voice-token key")
	// ErrKeyCurrent means a key to retire still signs new tokens:
	// rotate first.
	ErrKeyCurrent = errors.New("fleet: the key is current: rotate first (parley fleet rotate-key), then retire it")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("fleet: closed")
)

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
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("fleet: closed")
)

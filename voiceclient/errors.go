package voiceclient

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrConfig means a Config field is missing or invalid.
	ErrConfig = errors.New("voiceclient: invalid config")
	// ErrHandshake means the server broke the join sequence (unexpected or
	// malformed message, missing field).
	ErrHandshake = errors.New("voiceclient: handshake failed")
	// ErrDiscovery means UDP IP discovery got no valid answer.
	ErrDiscovery = errors.New("voiceclient: IP discovery failed")
	// ErrNoMode means the server offered no mode this client supports (or
	// not the one Config.Mode asks for).
	ErrNoMode = errors.New("voiceclient: no supported encryption mode offered")
	// ErrClosed means the Conn was closed (by Close or by the server).
	ErrClosed = errors.New("voiceclient: connection closed")
	// ErrFrameTooLarge means an Opus frame does not fit one datagram.
	ErrFrameTooLarge = errors.New("voiceclient: opus frame too large")
	// ErrNoDAVE means DAVE is off or the user is not in the group.
	ErrNoDAVE = errors.New("voiceclient: no DAVE session")
	// ErrDAVENotReady means a send waited too long for DAVE to settle (no
	// sender key for the room's group yet; see Conn.WaitDAVE). The frame
	// was not sent.
	ErrDAVENotReady = errors.New("voiceclient: DAVE not ready to send")
	// ErrIVF means a file is not a well-formed IVF stream.
	ErrIVF = errors.New("voiceclient: invalid IVF file")
	// ErrResumeFailed means the gateway dropped and resuming failed.
	ErrResumeFailed = errors.New("voiceclient: resume failed")
)

// CloseError is the gateway's close code when the server ended the session
// (for example 4014: disconnected by an admin, 4006: session invalid).
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("voiceclient: gateway closed with %d %s", e.Code, e.Text)
}

// Is makes errors.Is(err, ErrClosed) true for a server close.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

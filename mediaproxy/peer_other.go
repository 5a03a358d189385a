//go:build !unix

package mediaproxy

import "net"

// peerGone cannot peek at a connection here: a client going away is
// noticed only when the request's own deadline passes.
func peerGone(net.Conn) bool { return false }

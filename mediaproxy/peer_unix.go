//go:build unix

package mediaproxy

import (
	"errors"
	"net"
	"syscall"
)

// peerGone reports whether the client of c has closed or reset the
// connection. It peeks one byte without blocking and without consuming
// it: end of stream or an error other than "nothing yet" means gone.
// Control (not Read) runs the probe, so read deadlines set by fasthttp
// play no part.
func peerGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default:
			gone = true
		}
	})
	return gone || err != nil
}

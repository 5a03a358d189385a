package voicebench

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// handshakeConn is the net.PacketConn pion's DTLS client reads and writes
// during a web participant's handshake: the participant's own raw socket
// (connected to the server), DTLS datagrams only — by RFC 7983 those whose
// first byte is 20-63; a late STUN answer or early SRTP is dropped. detach
// hands the socket back to the generator: after it returns, no read or
// write of pion's reaches the socket, and Close never closes it (the
// participant owns it).
type handshakeConn struct {
	sock   *udpSock
	remote *net.UDPAddr

	readMu   sync.Mutex // held for a whole ReadFrom, so detach can wait one out
	writeMu  sync.Mutex // held for a whole WriteTo, likewise
	detached atomic.Bool
	deadline atomic.Int64 // read deadline, Unix ns; 0: none
}

func newHandshakeConn(s *udpSock, remote *net.UDPAddr) *handshakeConn {
	return &handshakeConn{sock: s, remote: remote}
}

// detach refuses pion every later read and write, and returns once any in
// progress has finished. A blocked read notices within the socket's
// receive timeout (handshakePoll).
func (c *handshakeConn) detach() {
	c.detached.Store(true)
	c.readMu.Lock()
	c.readMu.Unlock() //nolint:staticcheck // an empty critical section: waits out a reader
	c.writeMu.Lock()
	c.writeMu.Unlock() //nolint:staticcheck // likewise for a writer
}

// ReadFrom returns the next DTLS datagram, blocking in steps of the
// socket's receive timeout until the read deadline or detach.
func (c *handshakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		if c.detached.Load() {
			return 0, nil, net.ErrClosed
		}
		if d := c.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return 0, nil, os.ErrDeadlineExceeded
		}
		n, err := c.sock.recv(b)
		if isTimeout(err) {
			continue // look at the deadline and detach again
		}
		if err != nil {
			return 0, nil, err
		}
		if n > 0 && b[0] >= 20 && b[0] < 64 {
			return n, c.remote, nil
		}
	}
}

// WriteTo sends b to the server (the socket is connected; addr is the
// server's).
func (c *handshakeConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.detached.Load() {
		return 0, net.ErrClosed
	}
	if err := c.sock.send(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close detaches; the socket stays open.
func (c *handshakeConn) Close() error {
	c.detach()
	return nil
}

func (c *handshakeConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4zero, Port: int(c.sock.localPort())}
}

func (c *handshakeConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.deadline.Store(ns)
	return nil
}

func (c *handshakeConn) SetWriteDeadline(time.Time) error { return nil }

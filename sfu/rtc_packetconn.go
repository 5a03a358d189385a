package sfu

import (
	"net"
	"sync"
	"time"
)

// icePacketConn is the net.PacketConn pion's ICE mux reads and writes: the
// readers of the WebRTC socket hand it the STUN and DTLS datagrams they
// read (rare: handshakes and consent checks), and what pion writes goes
// straight out of the socket. SRTP never passes through it.
type icePacketConn struct {
	sock *socket
	in   chan icePacket
	done chan struct{}
	once sync.Once
}

type icePacket struct {
	b    []byte
	from *net.UDPAddr
}

// iceQueue bounds the datagrams waiting for pion.
const iceQueue = 1024

func newICEPacketConn(sock *socket) *icePacketConn {
	return &icePacketConn{sock: sock, in: make(chan icePacket, iceQueue), done: make(chan struct{})}
}

// push hands a copy of b to pion; false if its queue is full.
func (c *icePacketConn) push(b []byte, from *net.UDPAddr) bool {
	p := icePacket{b: append([]byte(nil), b...), from: &net.UDPAddr{IP: append(net.IP(nil), from.IP...), Port: from.Port}}
	select {
	case c.in <- p:
		return true
	default:
		return false
	}
}

func (c *icePacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), p.from, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

func (c *icePacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	return c.sock.conn.WriteTo(b, addr)
}

func (c *icePacketConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *icePacketConn) LocalAddr() net.Addr              { return c.sock.conn.LocalAddr() }
func (c *icePacketConn) SetDeadline(time.Time) error      { return nil }
func (c *icePacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *icePacketConn) SetWriteDeadline(time.Time) error { return nil }

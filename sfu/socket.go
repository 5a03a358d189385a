package sfu

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// socket is one UDP socket with its batch I/O view.
type socket struct {
	conn *net.UDPConn
	bc   batchConn
}

// listenReusePort binds a UDP socket with SO_REUSEPORT so several readers
// can share one address; the kernel keeps each client flow on one socket.
func listenReusePort(addr *net.UDPAddr) (*socket, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	network := "udp4"
	if addr.IP != nil && addr.IP.To4() == nil {
		network = "udp6"
	}
	pc, err := lc.ListenPacket(context.Background(), network, addr.String())
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	s := &socket{conn: conn}
	if network == "udp4" {
		s.bc = ipv4.NewPacketConn(conn)
	} else {
		s.bc = ipv6.NewPacketConn(conn)
	}
	return s, nil
}

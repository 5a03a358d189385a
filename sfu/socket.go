package sfu

import (
	"context"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// socket is one UDP socket with its batch I/O view.
type socket struct {
	conn *net.UDPConn
	bc   batchConn
	// overflows is the last SO_RXQ_OVFL count seen (owned by the reader).
	overflows uint32
}

// rxqOverflow extracts the SO_RXQ_OVFL counter from a datagram's control
// messages without allocating.
func rxqOverflow(oob []byte) (uint32, bool) {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && l >= unix.CmsgLen(4) {
			d := oob[unix.CmsgLen(0):]
			return uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24, true
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0, false
}

// listenReusePort binds a UDP socket with SO_REUSEPORT so several readers
// can share one address; the kernel keeps each client flow on one socket.
func listenReusePort(addr *net.UDPAddr) (*socket, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr == nil {
				// Report the socket's cumulative receive-queue drops
				// with each datagram, so kernel drops are counted too.
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
			}
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

//go:build linux

package voicebench

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpSock is one participant's UDP socket, connected to the server's media
// address. It is created with raw syscalls so that Go's netpoller never
// registers it: media is read only by the receive loops' own epoll instances.
type udpSock struct {
	fd int
}

// dialUDP opens a socket connected to to, with kernel receive timestamps on
// and a receive timeout for the blocking reads of the handshake.
func dialUDP(to netip.AddrPort) (*udpSock, error) {
	if !to.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("%w: media address %s is not IPv4", ErrHandshake, to)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("voicebench: socket: %w", err)
	}
	s := &udpSock{fd: fd}
	tv := unix.NsecToTimeval(int64(300 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		s.close()
		return nil, fmt.Errorf("voicebench: SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		s.close()
		return nil, fmt.Errorf("voicebench: SO_TIMESTAMPNS: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().Unmap().As4()}); err != nil {
		s.close()
		return nil, fmt.Errorf("voicebench: connect %s: %w", to, err)
	}
	return s, nil
}

// send writes one datagram without blocking (a raw syscall, like every
// syscall of the event loops).
func (s *udpSock) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// recv reads one datagram, blocking up to the socket's receive timeout
// (handshake only; the receive loops use recvmmsg).
func (s *udpSock) recv(b []byte) (int, error) {
	for {
		n, _, err := unix.Recvfrom(s.fd, b, 0)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// setRecvTimeout changes how long recv blocks (SO_RCVTIMEO).
func (s *udpSock) setRecvTimeout(d time.Duration) error {
	tv := unix.NsecToTimeval(int64(d))
	if err := unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("voicebench: SO_RCVTIMEO: %w", err)
	}
	return nil
}

// isTimeout reports whether a recv error is the receive timeout.
func isTimeout(err error) bool { return errors.Is(err, unix.EAGAIN) }

func (s *udpSock) close() {
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}

// mmsghdr is struct mmsghdr of recvmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

const (
	rxBatch = 8  // datagrams per recvmmsg
	rxCtrl  = 64 // control buffer: one SCM_TIMESTAMPNS cmsg is 32 bytes
)

// rxIO is a receive loop's epoll instance and recvmmsg buffers.
type rxIO struct {
	epfd   int
	events []unix.EpollEvent
	hdrs   [rxBatch]mmsghdr
	iovs   [rxBatch]unix.Iovec
	bufs   []byte
	ctrl   []byte
}

func (l *loop) initIO() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("voicebench: epoll_create1: %w", err)
	}
	io := &l.io
	io.epfd = epfd
	io.events = make([]unix.EpollEvent, 256)
	io.bufs = make([]byte, rxBatch*rxBufSize)
	io.ctrl = make([]byte, rxBatch*rxCtrl)
	for j := range io.hdrs {
		io.iovs[j].Base = &io.bufs[j*rxBufSize]
		io.iovs[j].SetLen(rxBufSize)
		io.hdrs[j].hdr.Iov = &io.iovs[j]
		io.hdrs[j].hdr.SetIovlen(1)
		io.hdrs[j].hdr.Control = &io.ctrl[j*rxCtrl]
	}
	for i, p := range l.socks {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.sock.fd, &ev); err != nil {
			_ = unix.Close(epfd)
			return fmt.Errorf("voicebench: epoll_ctl: %w", err)
		}
	}
	return nil
}

func (l *loop) closeIO() { _ = unix.Close(l.io.epfd) }

// poll drains every ready socket without blocking; it repeats while
// epoll_wait fills its event buffer.
func (l *loop) poll() error {
	io := &l.io
	for {
		// Zero timeout: never blocks, so a raw syscall is safe.
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(io.epfd),
			uintptr(unsafe.Pointer(&io.events[0])), uintptr(len(io.events)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("voicebench: epoll_pwait: %w", errno)
		}
		for i := 0; i < int(n); i++ {
			l.drain(l.socks[io.events[i].Fd])
		}
		if int(n) < len(io.events) {
			return nil
		}
	}
}

// drain reads every queued datagram of p's socket with recvmmsg.
func (l *loop) drain(p *participant) {
	io := &l.io
	for {
		for j := range io.hdrs {
			io.hdrs[j].hdr.SetControllen(rxCtrl)
			io.hdrs[j].hdr.Flags = 0
		}
		// MSG_DONTWAIT: never blocks, so a raw syscall is safe.
		k, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(p.sock.fd),
			uintptr(unsafe.Pointer(&io.hdrs[0])), rxBatch, unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 || k == 0 {
			return
		}
		userNS := time.Now().UnixNano()
		for j := 0; j < int(k); j++ {
			h := &io.hdrs[j]
			kernNS := cmsgTimestamp(io.ctrl[j*rxCtrl:j*rxCtrl+int(h.hdr.Controllen)], userNS)
			l.packet(p, io.bufs[j*rxBufSize:j*rxBufSize+int(h.n)], kernNS, userNS)
		}
		if k < rxBatch {
			return
		}
	}
}

// cmsgTimestamp extracts SCM_TIMESTAMPNS from a control buffer, or returns
// def when there is none.
func cmsgTimestamp(ctrl []byte, def int64) int64 {
	const hdrLen = unix.SizeofCmsghdr
	for len(ctrl) >= hdrLen {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&ctrl[0]))
		clen := int(c.Len)
		if clen < hdrLen || clen > len(ctrl) {
			return def
		}
		if c.Level == unix.SOL_SOCKET && c.Type == unix.SCM_TIMESTAMPNS && clen >= hdrLen+int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&ctrl[hdrLen]))
			return ts.Nano()
		}
		next := (clen + 7) &^ 7
		if next > len(ctrl) {
			return def
		}
		ctrl = ctrl[next:]
	}
	return def
}

// rawSleep sleeps d with nanosleep(2) as a raw syscall: the goroutine
// keeps its P (the Go scheduler sees it running), so sleeping costs no
// hand-off and does not keep sysmon polling. Only loops on their own locked
// thread, whose timer slack pinThread set to 1 ns, call it; a signal (such
// as the scheduler's preemption) ends the sleep early, which is harmless.
func rawSleep(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(d))
	_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// pinThread locks the goroutine to its thread and makes that thread's
// sleeps precise (PR_SET_TIMERSLACK 1 ns). The thread dies with the
// goroutine, since it is never unlocked.
func pinThread() {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
}

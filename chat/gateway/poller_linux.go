//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller is one epoll instance watching connections for readability, so
// idle connections need no goroutine. Registrations are one-shot: after a
// readiness event the connection is disarmed until its reader calls rearm,
// so at most one goroutine reads a connection at a time.
type poller struct {
	epfd   int
	wake   int // eventfd that interrupts epoll_wait on close
	closed atomic.Bool
	// spawn runs a read on a goroutine the server owns (Server.goWork).
	spawn func(func())

	mu sync.Mutex
	// conns maps fd to connection; guarded by mu.
	conns map[int32]*wsConn
}

const pollEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

func newPoller(spawn func(func())) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("gateway: epoll_create: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("gateway: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("gateway: epoll_ctl: %w", err)
	}
	return &poller{epfd: epfd, wake: wake, spawn: spawn, conns: map[int32]*wsConn{}}, nil
}

// fdOf returns the descriptor of a connection.
func fdOf(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("gateway: connection has no file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return -1, err
	}
	return fd, nil
}

// add registers c (armed).
func (p *poller) add(c *wsConn) error {
	fd, err := fdOf(c.raw)
	if err != nil {
		return err
	}
	c.fd = fd
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: pollEvents, Fd: int32(fd)}); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(fd))
		p.mu.Unlock()
		return fmt.Errorf("gateway: epoll_ctl add: %w", err)
	}
	return nil
}

// rearm re-enables readiness events for c after a read.
func (p *poller) rearm(c *wsConn) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: pollEvents, Fd: int32(c.fd)})
}

// remove unregisters c; call before closing its socket.
func (p *poller) remove(c *wsConn) {
	p.mu.Lock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
	}
	p.mu.Unlock()
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
}

// run delivers readiness until close: ready is called through spawn, on a
// goroutine of its own, for each readable connection.
func (p *poller) run(ready func(*wsConn)) {
	events := make([]unix.EpollEvent, 256)
	for !p.closed.Load() {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for i := range n {
			fd := events[i].Fd
			if int(fd) == p.wake {
				continue
			}
			p.mu.Lock()
			c := p.conns[fd]
			p.mu.Unlock()
			if c != nil {
				p.spawn(func() { ready(c) })
			}
		}
	}
}

func (p *poller) close() {
	if p.closed.Swap(true) {
		return
	}
	var one = []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = unix.Write(p.wake, one)
}

// release frees the descriptors once run and every read it started have
// returned.
func (p *poller) release() {
	unix.Close(p.epfd)
	unix.Close(p.wake)
}

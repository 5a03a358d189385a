//go:build !linux

package voicebench

import (
	"net/netip"
	"time"
)

type udpSock struct{ fd int }

func dialUDP(netip.AddrPort) (*udpSock, error) { return nil, ErrUnsupported }
func (s *udpSock) send([]byte) error           { return ErrUnsupported }
func (s *udpSock) recv([]byte) (int, error)    { return 0, ErrUnsupported }
func (s *udpSock) close()                      {}

func (s *udpSock) setRecvTimeout(time.Duration) error { return ErrUnsupported }
func isTimeout(error) bool                            { return false }

type rxIO struct{}

func (l *loop) initIO() error  { return ErrUnsupported }
func (l *loop) closeIO()       {}
func (l *loop) poll() error    { return ErrUnsupported }
func rawSleep(d time.Duration) { time.Sleep(d) }
func pinThread()               {}

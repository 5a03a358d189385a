//go:build !linux

package voicebench

import "time"

func processCPU(int) (time.Duration, error) { return 0, ErrUnsupported }
func selfCPU() (time.Duration, error)       { return 0, ErrUnsupported }

func userSysCPU(int) (time.Duration, time.Duration, error) { return 0, 0, ErrUnsupported }

func udpDrops(map[uint16]bool) (uint64, error) { return 0, ErrUnsupported }
func (s *udpSock) localPort() uint16           { return 0 }

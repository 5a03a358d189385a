//go:build linux

package voicebench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time pid has used so far (performance.md §8.3).
// For the calling process it is getrusage(RUSAGE_SELF); for another it sums
// the first field of /proc/PID/task/*/schedstat (ns on CPU, all live
// threads), falling back to utime+stime of /proc/PID/stat (clock ticks).
func processCPU(pid int) (time.Duration, error) {
	if pid == os.Getpid() {
		return selfCPU()
	}
	if d, err := schedstatCPU(pid); err == nil && d > 0 {
		return d, nil
	}
	return statCPU(pid)
}

func selfCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("voicebench: getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func schedstatCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("voicebench: no schedstat for pid %d", pid)
	}
	var total int64
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // thread exited
		}
		f := bytes.Fields(b)
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			continue
		}
		total += ns
	}
	return time.Duration(total), nil
}

// clockTick is USER_HZ; Linux exposes 100 on every mainstream architecture.
const clockTick = 10 * time.Millisecond

func statCPU(pid int) (time.Duration, error) {
	u, s, err := userSysCPU(pid)
	return u + s, err
}

// userSysCPU splits pid's CPU time into user and system time: rusage for
// the calling process, utime and stime of /proc/PID/stat (clock ticks)
// for another.
func userSysCPU(pid int) (user, sys time.Duration, err error) {
	if pid == os.Getpid() {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			return 0, 0, fmt.Errorf("voicebench: getrusage: %w", err)
		}
		return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("voicebench: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("voicebench: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("voicebench: malformed /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("voicebench: malformed /proc/%d/stat", pid)
	}
	return time.Duration(ut) * clockTick, time.Duration(st) * clockTick, nil
}

// udpDrops sums the kernel's drop counters (receive buffer overflows) of
// the IPv4 UDP sockets bound to the given local ports, from /proc/net/udp.
func udpDrops(ports map[uint16]bool) (uint64, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return 0, fmt.Errorf("voicebench: %w", err)
	}
	var total uint64
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil || !ports[uint16(port)] {
			continue
		}
		if d, err := strconv.ParseUint(f[len(f)-1], 10, 64); err == nil {
			total += d
		}
	}
	return total, nil
}

// localPort is the bound port of a socket.
func (s *udpSock) localPort() uint16 {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return 0
	}
	if in4, ok := sa.(*unix.SockaddrInet4); ok {
		return uint16(in4.Port)
	}
	return 0
}

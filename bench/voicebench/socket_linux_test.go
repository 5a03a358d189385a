//go:build linux

package voicebench

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message with a timespec payload.
func cmsg(level, typ int32, sec, nsec int64) []byte {
	b := make([]byte, unix.CmsgSpace(16))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(16))
	binary.NativeEndian.PutUint64(b[unix.SizeofCmsghdr:], uint64(sec))
	binary.NativeEndian.PutUint64(b[unix.SizeofCmsghdr+8:], uint64(nsec))
	return b
}

func TestCmsgTimestamp(t *testing.T) {
	ts := cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 1700000000, 123)
	other := cmsg(unix.SOL_IP, unix.IP_PKTINFO, 1, 1)
	tests := []struct {
		name string
		ctrl []byte
		want int64
	}{
		{"timestamp", ts, 1700000000_000000123},
		{"after another cmsg", append(append([]byte{}, other...), ts...), 1700000000_000000123},
		{"none", nil, -1},
		{"other only", other, -1},
		{"truncated", ts[:20], -1},
		{"bad length", func() []byte { b := append([]byte{}, ts...); b[0] = 3; return b }(), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := cmsgTimestamp(tc.ctrl, -1); got != tc.want {
				t.Fatalf("cmsgTimestamp = %d, want %d", got, tc.want)
			}
		})
	}
}

func FuzzCmsgTimestamp(f *testing.F) {
	f.Add(cmsg(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, 1, 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Align as the kernel's control buffer is.
		buf := make([]uint64, (len(b)+7)/8)
		ctrl := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(b))
		copy(ctrl, b)
		_ = cmsgTimestamp(ctrl, 0)
	})
}

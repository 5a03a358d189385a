package bench

import (
	"net"
	"net/netip"
	"testing"
)

// TestLoopbackSource: one address per connection within the bench's /10
// for a loopback target, none for a remote one.
func TestLoopbackSource(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  string
		block byte
		idx   int
		want  string // "" for nil
	}{
		{"first", "127.0.0.1", 64, 0, "127.64.0.0"},
		{"low bytes", "127.0.0.1", 64, 300, "127.64.1.44"},
		{"third byte", "127.0.0.1", 128, 70_000, "127.129.17.112"},
		{"wraps within the /10", "127.0.0.1", 128, 64 << 16, "127.128.0.0"},
		{"other loopback", "127.5.6.7", 64, 1, "127.64.0.1"},
		{"remote", "192.0.2.1", 64, 5, ""},
		{"ipv6 loopback", "::1", 64, 5, ""},
		{"name", "localhost", 64, 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := LoopbackSource(tc.host, tc.block, tc.idx)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("LoopbackSource(%q) = %v, want nil", tc.host, got)
				}
				return
			}
			if !got.Equal(net.ParseIP(tc.want)) {
				t.Fatalf("LoopbackSource(%q, %d, %d) = %v, want %s", tc.host, tc.block, tc.idx, got, tc.want)
			}
			prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, tc.block, 0, 0}), 10)
			if a, _ := netip.AddrFromSlice(got.To4()); !prefix.Contains(a) {
				t.Fatalf("%v is outside %v", got, prefix)
			}
		})
	}
}

package connlimit

import "testing"

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:5555", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5555", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:5555", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:80", "fe80::"},
		{"192.0.2.7", "invalid IP"},
		{"", "invalid IP"},
	}
	for _, tc := range tests {
		if got := ClientIP(tc.remote).String(); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.remote, got, tc.want)
		}
	}
}

package testkit

import "net"

// DialerFrom returns a dialer whose connections come from the local
// address src, an IP such as 127.0.0.2 (any of 127.0.0.0/8 works on
// loopback without setup), so that one test can be many clients to
// per-address limits. With src "" the system picks the source. Callers
// may set further fields (Timeout) on the dialer returned.
func DialerFrom(src string) *net.Dialer {
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d
}

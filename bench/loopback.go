package bench

import "net"

// LoopbackSource is the local address connection idx of a load generator
// dials host from: 127.(block+idx>>16 mod 64).(idx>>8).(idx), its own
// address in the /10 at 127.block.0.0, when host is an IPv4 loopback
// address; nil (the default address) otherwise. Thousands of connections
// on one machine then look like the thousands of clients they stand for,
// within a server's per-IP caps (internal/connlimit), which the benches
// never switch off. block is 64, 128 or 192 (0 would overlap 127.0.0.1);
// each bench uses its own.
func LoopbackSource(host string, block byte, idx int) net.IP {
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	return net.IPv4(127, block+byte(idx>>16&63), byte(idx>>8), byte(idx))
}

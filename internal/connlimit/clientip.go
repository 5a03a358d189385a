package connlimit

import "net/netip"

// ClientIP is the address a client is counted as, from a remote address
// ("host:port", as net.Conn.RemoteAddr().String() or
// http.Request.RemoteAddr give it): an IPv4 address (IPv4-mapped IPv6
// ones unmapped), or an IPv6 address's /64 without its zone (one
// subscriber's prefix, which a client could otherwise spread over
// freely). An unparsable address is the zero Addr.
func ClientIP(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64) // drops the zone; 64 is in range for IPv6
		return p.Addr()
	}
	return a
}

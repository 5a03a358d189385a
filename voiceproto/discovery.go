package voiceproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IP discovery (voice-protocol.md §3.1): a 74-byte datagram of type
// (u16: 1 request, 2 response), length (u16, always 70), SSRC (u32), a
// NUL-padded ASCII address (64 bytes) and a port (u16), all big-endian.
// The client sends a request with its SSRC; the server answers with the
// address and port the request came from.
const (
	discoveryRequest  = 1
	discoveryResponse = 2
	discoveryBodyLen  = 70
	discoveryAddrLen  = 64
)

// DiscoveryRequest returns the request a client with ssrc sends.
func DiscoveryRequest(ssrc uint32) [DiscoveryLen]byte {
	var b [DiscoveryLen]byte
	putDiscoveryHead(b[:], discoveryRequest, ssrc)
	return b
}

// DiscoveryResponse returns the server's answer telling ssrc's client that
// its datagrams arrive from addr. IPv4-mapped addresses are written as
// IPv4.
func DiscoveryResponse(ssrc uint32, addr netip.AddrPort) [DiscoveryLen]byte {
	var b [DiscoveryLen]byte
	putDiscoveryHead(b[:], discoveryResponse, ssrc)
	ip := addr.Addr().Unmap()
	copy(b[8:8+discoveryAddrLen-1], ip.AppendTo(nil)) // keep one NUL
	binary.BigEndian.PutUint16(b[72:74], addr.Port())
	return b
}

func putDiscoveryHead(b []byte, typ uint16, ssrc uint32) {
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], discoveryBodyLen)
	binary.BigEndian.PutUint32(b[4:8], ssrc)
}

// ParseDiscoveryRequest returns the SSRC of a request (a datagram that
// Classify calls KindDiscovery).
func ParseDiscoveryRequest(pkt []byte) (ssrc uint32, err error) {
	if err := checkDiscovery(pkt, discoveryRequest); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(pkt[4:8]), nil
}

// ParseDiscoveryResponse returns the SSRC and the external address of a
// response. The address must be IPv4 (Discord's clients only send it so)
// and the port non-zero.
func ParseDiscoveryResponse(pkt []byte) (ssrc uint32, addr netip.AddrPort, err error) {
	if err := checkDiscovery(pkt, discoveryResponse); err != nil {
		return 0, addr, err
	}
	text := pkt[8 : 8+discoveryAddrLen]
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	ip, perr := netip.ParseAddr(string(text))
	if perr != nil || !ip.Is4() {
		return 0, addr, fmt.Errorf("%w: address %q is not IPv4", ErrBadDiscovery, text)
	}
	port := binary.BigEndian.Uint16(pkt[72:74])
	if port == 0 {
		return 0, addr, fmt.Errorf("%w: port 0", ErrBadDiscovery)
	}
	return binary.BigEndian.Uint32(pkt[4:8]), netip.AddrPortFrom(ip, port), nil
}

func checkDiscovery(pkt []byte, typ uint16) error {
	if len(pkt) != DiscoveryLen {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadDiscovery, len(pkt), DiscoveryLen)
	}
	if got := binary.BigEndian.Uint16(pkt[0:2]); got != typ {
		return fmt.Errorf("%w: type %d, want %d", ErrBadDiscovery, got, typ)
	}
	if got := binary.BigEndian.Uint16(pkt[2:4]); got != discoveryBodyLen {
		return fmt.Errorf("%w: length field %d, want %d", ErrBadDiscovery, got, discoveryBodyLen)
	}
	return nil
}

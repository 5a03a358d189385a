package voiceproto

import "encoding/binary"

// Kind is the class of a UDP datagram on the voice socket, decided by shape
// alone (voice-protocol.md §3).
type Kind uint8

const (
	// KindUnknown: none of the shapes below; drop and count.
	KindUnknown Kind = iota
	// KindDiscovery: 74 bytes starting 00 01, an IP discovery request.
	KindDiscovery
	// KindDiscoveryResponse: 74 bytes starting 00 02, an IP discovery
	// response (seen by clients).
	KindDiscoveryResponse
	// KindKeepalive: exactly 8 bytes; ignore, never decrypt.
	KindKeepalive
	// KindRTCP: version 2, byte 1 in 200..206 (SR, RR, SDES, BYE, APP,
	// RTPFB such as NACK, PSFB such as PLI; RFC 5761 §4 keeps RTP payload
	// types 72-78 clear of them): the desktop client's encrypted RTCP
	// (8-byte clear header, Cipher.OpenRTCP).
	KindRTCP
	// KindRTP: version 2, at least 12 bytes, not RTCP.
	KindRTP
)

var kindNames = [...]string{
	KindUnknown:           "unknown",
	KindDiscovery:         "discovery",
	KindDiscoveryResponse: "discovery_response",
	KindKeepalive:         "keepalive",
	KindRTCP:              "rtcp",
	KindRTP:               "rtp",
}

// String returns a stable snake_case name, suitable as a metric label.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// DiscoveryLen is the length of IP discovery requests and responses.
const DiscoveryLen = 74

// Classify a datagram by shape. It never panics and does not allocate.
func Classify(pkt []byte) Kind {
	switch {
	case len(pkt) == DiscoveryLen && pkt[0] == 0 && pkt[1] == 1:
		return KindDiscovery
	case len(pkt) == DiscoveryLen && pkt[0] == 0 && pkt[1] == 2:
		return KindDiscoveryResponse
	case len(pkt) == 8:
		return KindKeepalive
	case len(pkt) < FixedHeaderLen || pkt[0]>>6 != 2:
		return KindUnknown
	case pkt[1] >= 200 && pkt[1] <= 206:
		return KindRTCP
	}
	return KindRTP
}

// KeepaliveLen is the length of a UDP keepalive.
const KeepaliveLen = 8

// Keepalive returns the UDP keepalive a client sends every few seconds to
// hold its NAT binding: a little-endian counter in 8 bytes, as the
// desktop client and @discordjs/voice send it. Servers ignore its content.
func Keepalive(counter uint32) [KeepaliveLen]byte {
	var b [KeepaliveLen]byte
	binary.LittleEndian.PutUint32(b[:4], counter)
	return b
}

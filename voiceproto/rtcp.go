package voiceproto

import "encoding/binary"

// RTCP on the native voice socket (voice-protocol.md §3.5): the desktop
// client multiplexes RTCP with RTP, each compound packet sealed like RTP
// under the session key and nonce space, with its first 8 bytes (the first
// RTCP header and the sender SSRC) in clear as the additional data. Parley
// uses it for video: sender reports (layer switch timing), receiver
// reports (loss, bandwidth), NACK (RFC 4585 §6.2.1) and PLI (§6.3.1).
// The contents are RFC 3550/4585 packets (github.com/pion/rtcp reads and
// writes them); this file only seals and opens.

// RTCPClearLen is the clear part of a sealed RTCP packet: the first
// RTCP header (4 bytes) and the sender SSRC.
const RTCPClearLen = 8

// SealRTCP appends to dst the wire form of the clear RTCP compound packet
// pkt (at least RTCPClearLen bytes, RTP version 2), with the same nonce
// rules as Seal. It returns ErrRTCPMode in xsalsa20_poly1305, whose
// header-derived nonce would repeat.
func (c *Cipher) SealRTCP(dst, pkt []byte, nonce [4]byte) ([]byte, error) {
	if err := checkRTCP(pkt); err != nil {
		return dst, err
	}
	if c.id == modeXSalsa {
		return dst, ErrRTCPMode
	}
	return c.seal(dst, pkt, RTCPClearLen, nonce)
}

// OpenRTCP appends to dst the clear RTCP compound packet carried by the
// wire packet pkt; errors as Open's.
func (c *Cipher) OpenRTCP(dst, pkt []byte) ([]byte, error) {
	if err := checkRTCP(pkt); err != nil {
		return dst, err
	}
	return c.open(dst, pkt, RTCPClearLen)
}

func checkRTCP(pkt []byte) error {
	if len(pkt) < RTCPClearLen {
		return ErrShortPacket
	}
	if pkt[0]>>6 != 2 {
		return ErrNotRTP
	}
	return nil
}

// PeekRTCPSender returns the sender SSRC of an RTCP packet, sealed or not
// (it is in the clear part), or false if pkt is too short.
func PeekRTCPSender(pkt []byte) (uint32, bool) {
	if len(pkt) < RTCPClearLen {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt[4:8]), true
}

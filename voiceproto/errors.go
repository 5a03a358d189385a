package voiceproto

import "errors"

// Sentinel errors, checked with errors.Is. Per-packet errors are drop
// reasons for the caller to count, not log.
var (
	// ErrUnknownMode: the mode string is not one of the Mode constants.
	ErrUnknownMode = errors.New("voiceproto: unknown encryption mode")
	// ErrKeySize: the secret key is not 32 bytes.
	ErrKeySize = errors.New("voiceproto: secret key must be 32 bytes")
	// ErrShortPacket: the packet is shorter than its header, extension,
	// padding or the mode's tag and nonce require.
	ErrShortPacket = errors.New("voiceproto: packet too short")
	// ErrNotRTP: the packet is not RTP version 2.
	ErrNotRTP = errors.New("voiceproto: not an RTP version 2 packet")
	// ErrBadPadding: the P bit is set but the padding count is zero or
	// larger than the packet after the header.
	ErrBadPadding = errors.New("voiceproto: invalid RTP padding")
	// ErrAuth: decryption failed (wrong key, wrong mode or tampered packet).
	ErrAuth = errors.New("voiceproto: message authentication failed")
	// ErrOverlap: dst's spare capacity overlaps the input other than in
	// place (dst == input[:0]).
	ErrOverlap = errors.New("voiceproto: dst overlaps input")
	// ErrRandom: the system random source failed (suffix mode only).
	ErrRandom = errors.New("voiceproto: random source failed")
)

// Gateway errors.
var (
	// ErrBadVersion: the ?v= query parameter names no dialect.
	ErrBadVersion = errors.New("voiceproto: unsupported voice gateway version")
	// ErrBadPayload: a gateway payload field has the wrong shape.
	ErrBadPayload = errors.New("voiceproto: invalid payload")
	// ErrBadDiscovery: an IP discovery datagram is malformed.
	ErrBadDiscovery = errors.New("voiceproto: malformed IP discovery datagram")
)

// ErrBadSDP: a webrtc SDP fragment is malformed, too large or lacks what
// the dialect needs.
var ErrBadSDP = errors.New("voiceproto: invalid SDP fragment")

// ErrNoCodec: a webrtc client offered no codec the room uses (Opus).
var ErrNoCodec = errors.New("voiceproto: no common audio codec (opus)")

// ErrBadVideo: video signalling (Identify's or op 12's streams, op 14, op
// 15) is well-formed JSON but out of range or inconsistent with what the
// server allocated: the gateway closes with 4020.
var ErrBadVideo = errors.New("voiceproto: invalid video signalling")

// ErrRTCPMode: RTCP cannot be sealed safely in this mode
// (xsalsa20_poly1305 derives its nonce from the header, which RTCP
// repeats).
var ErrRTCPMode = errors.New("voiceproto: no RTCP in this encryption mode")

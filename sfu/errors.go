package sfu

import "errors"

// Sentinel errors.
var (
	ErrConfig      = errors.New("sfu: invalid config")
	ErrClosed      = errors.New("sfu: server closed")
	ErrSSRCSpace   = errors.New("sfu: no free SSRC")
	ErrRoomFull    = errors.New("sfu: room is full")
	ErrUnknownMode = errors.New("sfu: encryption mode not offered")
	// ErrWebRTCOff: a browser asked for the webrtc transport on a server
	// without a WebRTC address.
	ErrWebRTCOff = errors.New("sfu: this voice server takes no WebRTC clients")
	// ErrVideoAllocated: a participant's video SSRCs were already
	// allocated (once per session, at Identify).
	ErrVideoAllocated = errors.New("sfu: video streams already allocated")
)

// DropReason names why an incoming or outgoing packet was not forwarded;
// every drop is counted by reason.
type DropReason uint8

// Drop reasons.
const (
	DropUnknownSSRC DropReason = iota
	DropNoTransport
	DropDecrypt
	DropMalformed
	DropNotOpus
	DropSilence
	DropMuted
	DropDeafened
	DropReceiverNotReady
	DropMunger
	DropNonceSpace
	DropSendError
	DropUnknownKind
	DropSpoofedDiscovery
	DropNotE2EE
	DropE2EEToPlainReceiver
	DropSocketOverflow
	DropTooLarge
	DropUnknownSource
	DropSRTP
	DropICEQueue
	DropVideoInactive
	DropVideoPayloadType
	DropVideoLayer
	DropVideoToWebRTC
	DropRTX
	numDropReasons
)

func (r DropReason) String() string {
	switch r {
	case DropUnknownSSRC:
		return "unknown_ssrc"
	case DropNoTransport:
		return "no_transport"
	case DropDecrypt:
		return "decrypt"
	case DropMalformed:
		return "malformed"
	case DropNotOpus:
		return "not_opus"
	case DropSilence:
		return "silence"
	case DropMuted:
		return "server_mute"
	case DropDeafened:
		return "server_deaf"
	case DropReceiverNotReady:
		return "receiver_not_ready"
	case DropMunger:
		return "munger"
	case DropNonceSpace:
		return "nonce_space"
	case DropSendError:
		return "send_error"
	case DropUnknownKind:
		return "unknown_kind"
	case DropSpoofedDiscovery:
		return "spoofed_discovery"
	case DropNotE2EE:
		return "not_e2ee"
	case DropE2EEToPlainReceiver:
		return "e2ee_to_plain_receiver"
	case DropSocketOverflow:
		return "socket_overflow"
	case DropTooLarge:
		return "too_large"
	case DropUnknownSource:
		return "unknown_source"
	case DropSRTP:
		return "srtp"
	case DropICEQueue:
		return "ice_queue"
	case DropVideoInactive:
		return "video_inactive"
	case DropVideoPayloadType:
		return "video_payload_type"
	case DropVideoLayer:
		return "video_layer"
	case DropVideoToWebRTC:
		return "video_to_webrtc"
	case DropRTX:
		return "rtx"
	}
	return "unknown"
}

package signaling

import "github.com/parleyhq/parley/voiceproto"

// Media is what the gateway needs from the SFU (consumer-defined so the
// gateway can be read without the forwarding path).
type Media interface {
	// Join adds a user to a room's media plane and allocates its SSRC.
	Join(room, user string) (Participant, error)
	// Modes lists the transport encryption modes offered in Ready.
	Modes() []string
	// UDPEndpoint is the ip and port clients send media to.
	UDPEndpoint() (ip string, port int)
}

// Participant is one user's media state in the SFU.
type Participant interface {
	SSRC() uint32
	// SetTransport installs the mode and key chosen in Select Protocol
	// and the address ("ip:port") the client declared there.
	SetTransport(mode string, key []byte, declared string) error
	// SetWebRTCTransport makes the participant a browser (Select
	// Protocol's webrtc dialect): the offer fragment and codecs in, the
	// answer fragment out. The client is refused with 4020 for
	// voiceproto.ErrBadSDP or ErrNoCodec (a bad offer) and with 4012 for
	// ErrWebRTCOff (the media plane takes no browsers); any other error is
	// a server fault (an ICE agent that did not start), logged and closed
	// with 4011 as a failed Join is.
	SetWebRTCTransport(fragment string, codecs []voiceproto.Codec) (answer string, err error)
	SetServerMute(bool)
	SetServerDeaf(bool)
	ServerMute() bool
	ServerDeaf() bool
	// SetDAVECapable records whether the client decrypts DAVE frames.
	SetDAVECapable(bool)
	// SetRoomDAVE switches E2EE frame enforcement for the whole room.
	SetRoomDAVE(bool)
	// Leave removes the participant from its room.
	Leave()
}

package voiceproto

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Payloads of the JSON opcodes (voice-protocol.md §2.3), one type per
// payload, shared by the server, the Go client and the bench. Fields a
// peer may omit decode to their zero value; the receiver checks what it
// needs.

// Identify is op 0, the client's first message.
type Identify struct {
	ServerID               ID     `json:"server_id"`
	UserID                 ID     `json:"user_id"`
	SessionID              ID     `json:"session_id"`
	Token                  string `json:"token"`
	MaxDaveProtocolVersion int    `json:"max_dave_protocol_version"`
	Video                  bool   `json:"video,omitempty"`
	// Streams are the video streams (simulcast layers) the client will
	// send (video.go); Ready answers each with its SSRCs.
	Streams []Stream `json:"streams,omitempty"`
}

// Resume is op 7: re-attach to a session after the WebSocket dropped.
// SeqAck (v8) is the last numbered message the client received.
type Resume struct {
	ServerID  ID     `json:"server_id"`
	SessionID ID     `json:"session_id"`
	Token     string `json:"token"`
	SeqAck    *int64 `json:"seq_ack,omitempty"`
}

// SelectProtocol is op 1: the transport and, for "udp", the client's
// address from IP discovery and the chosen encryption mode; for "webrtc"
// (the browser dialect, webrtc.go) the client's SDP fragment and codecs.
type SelectProtocol struct {
	Protocol string             `json:"protocol"`
	Data     SelectProtocolData `json:"data"`
	// SDP is the webrtc dialect's offer fragment (also sent as data).
	SDP string `json:"sdp,omitempty"`
	// Codecs are the webrtc dialect's offered codecs.
	Codecs []Codec `json:"codecs,omitempty"`
	// RTCConnectionID identifies the browser's peer connection.
	RTCConnectionID string `json:"rtc_connection_id,omitempty"`
}

// SelectProtocolData is op 1's "data": an object for the udp protocol; in
// the webrtc dialect a string, the SDP fragment (kept in Fragment).
type SelectProtocolData struct {
	Address string `json:"address"`
	Port    int    `json:"port"`
	Mode    string `json:"mode"`
	// Fragment is data when it is a string (webrtc).
	Fragment string `json:"-"`
}

// UnmarshalJSON accepts the udp object or the webrtc string.
func (d *SelectProtocolData) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*d = SelectProtocolData{}
		return json.Unmarshal(b, &d.Fragment)
	}
	type plain SelectProtocolData
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*d = SelectProtocolData(p)
	return nil
}

// MarshalJSON writes the fragment string when set, else the udp object.
func (d SelectProtocolData) MarshalJSON() ([]byte, error) {
	if d.Fragment != "" {
		return json.Marshal(d.Fragment)
	}
	type plain SelectProtocolData
	return json.Marshal(plain(d))
}

// Transports of Select Protocol.
const (
	// ProtocolUDP is the native transport: RTP over UDP with AEAD.
	ProtocolUDP = "udp"
	// ProtocolWebRTC is the browser dialect: ICE, DTLS-SRTP.
	ProtocolWebRTC = "webrtc"
)

// Codec is one codec a webrtc client offers in Select Protocol.
type Codec struct {
	Name           string `json:"name"`
	Type           string `json:"type"` // audio or video
	Priority       int    `json:"priority"`
	PayloadType    int    `json:"payload_type"`
	RTXPayloadType int    `json:"rtx_payload_type,omitempty"`
}

// Heartbeat is op 3 in the v8 dialect: a nonce T echoed in the ACK and the
// last numbered message received. Below v8 the payload is a bare integer.
type Heartbeat struct {
	T      json.RawMessage `json:"t"`
	SeqAck *int64          `json:"seq_ack"`
}

// HeartbeatACK is op 6 in the v8 dialect (below v8 it is the bare nonce).
type HeartbeatACK struct {
	T json.RawMessage `json:"t"`
}

// Hello is op 8, the server's first message. V is set in the v8 dialect.
type Hello struct {
	V                 int     `json:"v,omitempty"`
	HeartbeatInterval float64 `json:"heartbeat_interval"`
}

// Ready is op 2: the client's SSRC, the media address and the offered
// encryption modes. HeartbeatInterval is what legacy clients read.
type Ready struct {
	SSRC              uint32   `json:"ssrc"`
	IP                string   `json:"ip"`
	Port              int      `json:"port"`
	Modes             []string `json:"modes"`
	HeartbeatInterval float64  `json:"heartbeat_interval"`
	Experiments       []string `json:"experiments"`
	// Streams answers Identify's streams with their SSRCs (never null).
	Streams []Stream `json:"streams"`
}

// SessionDescription is op 4: the mode and the 32-byte transport key, and
// the DAVE protocol version of the call (0: none).
type SessionDescription struct {
	Mode                string    `json:"mode,omitempty"`
	SecretKey           SecretKey `json:"secret_key,omitempty"`
	DaveProtocolVersion int       `json:"dave_protocol_version"`
	// The webrtc dialect: no mode or key (DTLS-SRTP keys the transport),
	// the chosen codecs and the answer fragment (webrtc.go).
	AudioCodec     string `json:"audio_codec,omitempty"`
	VideoCodec     string `json:"video_codec,omitempty"`
	MediaSessionID string `json:"media_session_id,omitempty"`
	SDP            string `json:"sdp,omitempty"`
}

// Speaking is op 5 from a client: its speaking flags. SSRC is the client's
// own and never trusted by the server.
type Speaking struct {
	Speaking SpeakingFlags `json:"speaking"`
	Delay    int           `json:"delay"`
	SSRC     uint32        `json:"ssrc"`
}

// PeerSpeaking is op 5 from the server: which user sends on which SSRC,
// and whether they speak. Legacy receivers (DialectLegacy) get speaking as
// a bool: set Legacy to encode it so.
type PeerSpeaking struct {
	UserID   ID            `json:"user_id"`
	SSRC     uint32        `json:"ssrc"`
	Speaking SpeakingFlags `json:"speaking"`
	Legacy   bool          `json:"-"`
}

// MarshalJSON writes speaking as a bitmask, or as a bool when Legacy.
func (p PeerSpeaking) MarshalJSON() ([]byte, error) {
	var speaking any = int(p.Speaking)
	if p.Legacy {
		speaking = p.Speaking != 0
	}
	return json.Marshal(struct {
		UserID   ID     `json:"user_id"`
		SSRC     uint32 `json:"ssrc"`
		Speaking any    `json:"speaking"`
	}{p.UserID, p.SSRC, speaking})
}

// ClientsConnect is op 11: users who are (or just came) in the call.
type ClientsConnect struct {
	UserIDs []ID `json:"user_ids"`
}

// ClientDisconnect is op 13: a user left the call.
type ClientDisconnect struct {
	UserID ID `json:"user_id"`
}

// SecretKey is the transport key of Session Description, a JSON array of
// KeySize byte values.
type SecretKey []byte

// MarshalJSON writes the key as an array of numbers.
func (k SecretKey) MarshalJSON() ([]byte, error) {
	ints := make([]int, len(k))
	for i, b := range k {
		ints[i] = int(b)
	}
	return json.Marshal(ints)
}

// UnmarshalJSON reads an array of exactly KeySize numbers 0-255.
func (k *SecretKey) UnmarshalJSON(b []byte) error {
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil {
		return fmt.Errorf("%w: secret_key: %v", ErrBadPayload, err)
	}
	if len(ints) != KeySize {
		return fmt.Errorf("%w: secret_key has %d bytes, want %d", ErrBadPayload, len(ints), KeySize)
	}
	key := make(SecretKey, KeySize)
	for i, v := range ints {
		if v < 0 || v > 0xFF {
			return fmt.Errorf("%w: secret_key byte %d is %d", ErrBadPayload, i, v)
		}
		key[i] = byte(v)
	}
	*k = key
	return nil
}

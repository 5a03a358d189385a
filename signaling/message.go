package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// inbound is a client message envelope.
type inbound struct {
	Op  Op              `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq,omitempty"`
}

// identify is op 0's payload. Ids are strings in JSON but some clients send
// numbers, so they decode through flexString.
type identify struct {
	ServerID               flexString `json:"server_id"`
	UserID                 flexString `json:"user_id"`
	SessionID              flexString `json:"session_id"`
	Token                  string     `json:"token"`
	MaxDaveProtocolVersion int        `json:"max_dave_protocol_version"`
	Video                  bool       `json:"video"`
}

type resume struct {
	ServerID  flexString `json:"server_id"`
	SessionID flexString `json:"session_id"`
	Token     string     `json:"token"`
	SeqAck    *int64     `json:"seq_ack"`
}

type selectProtocol struct {
	Protocol string `json:"protocol"`
	Data     struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
		Mode    string `json:"mode"`
	} `json:"data"`
}

// speaking is op 5 from a client: speaking is an int bitmask (v4+) or a bool
// (legacy); ssrc is optional and never trusted.
type speaking struct {
	Speaking json.RawMessage `json:"speaking"`
	Delay    int             `json:"delay"`
	SSRC     uint32          `json:"ssrc"`
}

// speakingFlags decodes speaking's bitmask or bool.
func (s *speaking) flags() (int, error) {
	raw := bytes.TrimSpace(s.Speaking)
	switch string(raw) {
	case "true":
		return 1, nil
	case "false", "", "null":
		return 0, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < 0 || n > 0xFF {
		return 0, fmt.Errorf("speaking: %q is neither a bitmask nor a bool", raw)
	}
	return n, nil
}

// heartbeatV8 is the v8 heartbeat payload.
type heartbeatV8 struct {
	T      json.RawMessage `json:"t"`
	SeqAck *int64          `json:"seq_ack"`
}

// flexString accepts a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("expected string or number id: %w", err)
	}
	*f = flexString(n.String())
	return nil
}

// Server payloads.

type helloPayload struct {
	V                 int     `json:"v,omitempty"`
	HeartbeatInterval float64 `json:"heartbeat_interval"`
}

type readyPayload struct {
	SSRC              uint32   `json:"ssrc"`
	IP                string   `json:"ip"`
	Port              int      `json:"port"`
	Modes             []string `json:"modes"`
	HeartbeatInterval float64  `json:"heartbeat_interval"`
	Experiments       []string `json:"experiments"`
	Streams           []any    `json:"streams"`
}

type sessionDescription struct {
	Mode                string `json:"mode"`
	SecretKey           []int  `json:"secret_key"`
	DaveProtocolVersion int    `json:"dave_protocol_version"`
}

type speakingOut struct {
	UserID   string `json:"user_id"`
	SSRC     uint32 `json:"ssrc"`
	Speaking any    `json:"speaking"`
}

type clientsConnect struct {
	UserIDs []string `json:"user_ids"`
}

type clientDisconnect struct {
	UserID string `json:"user_id"`
}

// outbound is a server message. Seq is set on numbered v8 messages; disgo
// reads the sequence from "s", so both are written (voice-protocol.md §2.4).
type outbound struct {
	Op  Op     `json:"op"`
	D   any    `json:"d"`
	Seq *int64 `json:"seq,omitempty"`
	S   *int64 `json:"s,omitempty"`
}

// numbered reports whether a server op takes a sequence number in v8.
func numbered(op Op) bool {
	switch op {
	case OpHello, OpHeartbeatACK, OpResumed:
		return false
	}
	return true
}

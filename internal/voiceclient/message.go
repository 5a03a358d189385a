package voiceclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Voice gateway opcodes (voice-protocol.md §2.2).
const (
	opIdentify           = 0
	opSelectProtocol     = 1
	opReady              = 2
	opHeartbeat          = 3
	opSessionDescription = 4
	opSpeaking           = 5
	opHeartbeatACK       = 6
	opResume             = 7
	opHello              = 8
	opResumed            = 9
	opClientsConnect     = 11
	opClientDisconnect   = 13
)

// Speaking flags (voice-protocol.md §3.5).
const (
	SpeakingMicrophone = 1 << 0
	SpeakingSoundshare = 1 << 1
	SpeakingPriority   = 1 << 2
)

// inbound is a server message envelope. v8 servers number messages in
// "seq"; some send "s" as well.
type inbound struct {
	Op  int             `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq"`
	S   *int64          `json:"s"`
}

type outbound struct {
	Op int `json:"op"`
	D  any `json:"d"`
}

type identifyData struct {
	ServerID               string `json:"server_id"`
	UserID                 string `json:"user_id"`
	SessionID              string `json:"session_id"`
	Token                  string `json:"token"`
	MaxDaveProtocolVersion int    `json:"max_dave_protocol_version"`
}

type resumeData struct {
	ServerID  string `json:"server_id"`
	SessionID string `json:"session_id"`
	Token     string `json:"token"`
	SeqAck    int64  `json:"seq_ack"`
}

type selectProtocolData struct {
	Protocol string `json:"protocol"`
	Data     struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
		Mode    string `json:"mode"`
	} `json:"data"`
}

type heartbeatData struct {
	T      int64 `json:"t"`
	SeqAck int64 `json:"seq_ack"`
}

type helloData struct {
	HeartbeatInterval float64 `json:"heartbeat_interval"`
}

type readyData struct {
	SSRC              uint32   `json:"ssrc"`
	IP                string   `json:"ip"`
	Port              int      `json:"port"`
	Modes             []string `json:"modes"`
	HeartbeatInterval float64  `json:"heartbeat_interval"`
}

type sessionDescriptionData struct {
	Mode                string `json:"mode"`
	SecretKey           []int  `json:"secret_key"`
	DaveProtocolVersion int    `json:"dave_protocol_version"`
}

type speakingOut struct {
	Speaking int    `json:"speaking"`
	Delay    int    `json:"delay"`
	SSRC     uint32 `json:"ssrc"`
}

// speakingIn is the server's op 5. Ids may be strings or numbers; speaking
// may be a bitmask or a bool.
type speakingIn struct {
	UserID   flexString      `json:"user_id"`
	SSRC     uint32          `json:"ssrc"`
	Speaking json.RawMessage `json:"speaking"`
}

func (s *speakingIn) flags() int {
	switch string(bytes.TrimSpace(s.Speaking)) {
	case "true":
		return SpeakingMicrophone
	case "false", "", "null":
		return 0
	}
	n, _ := strconv.Atoi(string(bytes.TrimSpace(s.Speaking)))
	return n
}

type clientsConnectData struct {
	UserIDs []flexString `json:"user_ids"`
}

type clientDisconnectData struct {
	UserID flexString `json:"user_id"`
}

type heartbeatACKData struct {
	T json.RawMessage `json:"t"`
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
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return fmt.Errorf("id %s is neither a string nor a number", b)
	}
	*f = flexString(b)
	return nil
}

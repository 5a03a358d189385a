package gateway

// Opcode is a gateway opcode.
type Opcode int

// Gateway opcodes (shared/docs/chat-gateway.md §1).
const (
	OpDispatch            Opcode = 0
	OpHeartbeat           Opcode = 1
	OpIdentify            Opcode = 2
	OpPresenceUpdate      Opcode = 3
	OpVoiceStateUpdate    Opcode = 4
	OpResume              Opcode = 6
	OpReconnect           Opcode = 7
	OpRequestGuildMembers Opcode = 8
	OpInvalidSession      Opcode = 9
	OpHello               Opcode = 10
	OpHeartbeatACK        Opcode = 11
)

// CloseCode is a gateway close code (§1.3).
type CloseCode int

// Close codes.
const (
	CloseUnknownError         CloseCode = 4000
	CloseUnknownOpcode        CloseCode = 4001
	CloseDecodeError          CloseCode = 4002
	CloseNotAuthenticated     CloseCode = 4003
	CloseAuthenticationFailed CloseCode = 4004
	CloseAlreadyAuthenticated CloseCode = 4005
	CloseInvalidSeq           CloseCode = 4007
	CloseRateLimited          CloseCode = 4008
	CloseSessionTimedOut      CloseCode = 4009
	CloseInvalidShard         CloseCode = 4010
	CloseShardingRequired     CloseCode = 4011
	CloseInvalidAPIVersion    CloseCode = 4012
	CloseInvalidIntents       CloseCode = 4013
	CloseDisallowedIntents    CloseCode = 4014
)

var closeReasons = map[CloseCode]string{
	CloseUnknownError:         "Unknown error.",
	CloseUnknownOpcode:        "Unknown opcode.",
	CloseDecodeError:          "Error while decoding payload.",
	CloseNotAuthenticated:     "Not authenticated.",
	CloseAuthenticationFailed: "Authentication failed.",
	CloseAlreadyAuthenticated: "Already authenticated.",
	CloseInvalidSeq:           "Invalid seq.",
	CloseRateLimited:          "Rate limited.",
	CloseSessionTimedOut:      "Session timed out.",
	CloseInvalidShard:         "Invalid shard.",
	CloseShardingRequired:     "Sharding required.",
	CloseInvalidAPIVersion:    "Invalid API version.",
	CloseInvalidIntents:       "Invalid intent(s).",
	CloseDisallowedIntents:    "Disallowed intent(s).",
}

// String returns Discord's reason text.
func (c CloseCode) String() string {
	if r, ok := closeReasons[c]; ok {
		return r
	}
	return "Unknown close code."
}

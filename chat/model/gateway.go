package model

import "encoding/json"

// SessionRef identifies a gateway session to the chat service.
type SessionRef struct {
	ID     string
	UserID Snowflake
}

// VoiceStateRequest is gateway op 4's d.
type VoiceStateRequest struct {
	GuildID   Snowflake  `json:"guild_id"`
	ChannelID *Snowflake `json:"channel_id"`
	SelfMute  bool       `json:"self_mute"`
	SelfDeaf  bool       `json:"self_deaf"`
}

// RequestGuildMembers is gateway op 8's d.
type RequestGuildMembers struct {
	GuildID Snowflake `json:"guild_id"`
	Query   string    `json:"query"`
	Limit   int       `json:"limit"`
	Nonce   string    `json:"nonce"`
}

// PresenceUpdate is gateway op 3's d (the fields Parley uses).
type PresenceUpdate struct {
	Status     string          `json:"status"`
	Activities json.RawMessage `json:"activities"`
}

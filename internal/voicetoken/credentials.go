package voicetoken

import "time"

// Credentials are everything a client needs to join one voice session:
// what VOICE_SERVER_UPDATE and VOICE_STATE_UPDATE carry together, what
// `parley voice-token` prints and `parley voice join --credentials` reads.
type Credentials struct {
	Endpoint  string `json:"endpoint"`
	Token     string `json:"token"`
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
	GuildID   string `json:"guild_id"`
	ChannelID string `json:"channel_id"`
}

// Credentials issues a token for a new session of user in guild's channel
// on the voice gateway at endpoint, valid for ttl from now.
func (s *Signer) Credentials(endpoint, user, guild, channel string, ttl time.Duration, now time.Time) Credentials {
	c, tok := s.IssueFor(user, guild, channel, ttl, now)
	return Credentials{Endpoint: endpoint, Token: tok, SessionID: c.SessionID, UserID: user, GuildID: guild, ChannelID: channel}
}

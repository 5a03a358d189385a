// Package voicectl is the contract between the voice control plane (chat,
// admin CLI) and a voice server (sfu + signaling): the few operations a
// control plane performs on participants of a running voice session. It has
// no dependencies so that chat never imports the media path.
package voicectl

import "errors"

// ErrNotConnected means the user has no voice session in that guild.
var ErrNotConnected = errors.New("voicectl: user not connected to voice in that guild")

// Controller acts on a user's voice session, identified by guild (the voice
// protocol's server_id) and user id.
type Controller interface {
	// SetServerMute stops (or resumes) forwarding the user's audio to others.
	SetServerMute(guildID, userID string, mute bool) error
	// SetServerDeaf stops (or resumes) forwarding others' audio to the user.
	SetServerDeaf(guildID, userID string, deaf bool) error
	// Disconnect ends the user's voice session with close code 4014
	// (kicked or channel gone: the client must not reconnect).
	Disconnect(guildID, userID string) error
}

// Participant describes one connected voice user.
type Participant struct {
	GuildID   string `json:"guild_id"`
	ChannelID string `json:"channel_id"`
	UserID    string `json:"user_id"`
	SSRC      uint32 `json:"ssrc"`
	Mode      string `json:"mode"`
	Mute      bool   `json:"mute"`
	Deaf      bool   `json:"deaf"`
}

// Lister reports who is connected; optional for controllers.
type Lister interface {
	Participants() []Participant
}

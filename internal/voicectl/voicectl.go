// Package voicectl is the contract between the voice control plane (chat,
// admin CLI) and a voice node (sfu + signaling), in both directions:
//
//   - Controller: what the control plane does to live voice sessions
//     (server mute, deafen, disconnect).
//   - Admitter: what a voice node asks the control plane at every Identify
//     and Resume: is this session still one the control plane knows, and
//     with which server mute and deafen must it start?
//   - Registry and Node (node.go): the fleet of voice nodes as the control
//     plane sees it, and Place, which puts each voice channel on exactly
//     one node (Choose and Keeps in placement.go; regions.go says which
//     region is nearest which).
//
// The control plane's stored voice state is the truth; a node applies it
// before the first packet of a session is forwarded, and a revocation
// (kick, leaving the guild, losing access to the channel, the channel's
// deletion) reaches live sessions through Controller.Disconnect and new
// ones through Admit. Nothing is polled per packet. The package has no
// dependencies so that chat never imports the media path.
package voicectl

import (
	"context"
	"errors"
	"time"
)

// Errors.
var (
	// ErrNotConnected means the user has no voice session in that guild.
	ErrNotConnected = errors.New("voicectl: user not connected to voice in that guild")
	// ErrRevoked means the control plane no longer knows the session: the
	// node refuses it (close 4014) and must not let it resume.
	ErrRevoked = errors.New("voicectl: voice session revoked")
	// ErrNotManaged means the control plane does not manage the session's
	// guild (credentials an operator minted with `parley voice-token` for a
	// guild chat does not have): the node admits it on its own authority,
	// the token.
	ErrNotManaged = errors.New("voicectl: guild not managed by this control plane")
)

// Controller acts on a user's voice session, identified by guild (the voice
// protocol's server_id) and user id. ctx bounds the call (an RPC to a
// remote node or a store write).
type Controller interface {
	// SetServerMute stops (or resumes) forwarding the user's audio to
	// others, in the live session and in the user's next sessions on this
	// node (nil even when the user is not connected).
	SetServerMute(ctx context.Context, guildID, userID string, mute bool) error
	// SetServerDeaf stops (or resumes) forwarding others' audio to the
	// user, as SetServerMute.
	SetServerDeaf(ctx context.Context, guildID, userID string, deaf bool) error
	// Disconnect ends the user's voice session with close code 4014
	// (kicked or channel gone: the client must not reconnect).
	Disconnect(ctx context.Context, guildID, userID string) error
}

// Revoker refuses a voice session the control plane no longer knows (the
// member left, moved channel, was kicked, lost access) on every node that
// may see it: a node refuses it at Identify and Resume (close 4014) until
// until (the expiry of the last token issued for it), and ends it with
// 4014 where it is live. A newer session of the same user is untouched.
type Revoker interface {
	Revoke(ctx context.Context, s Session, until time.Time) error
}

// Bus is how the control plane's moderation reaches the node serving a
// call: server mute, deafen, disconnect and revocation. Two
// implementations: the node's own Controller, called in process (one
// machine), and fleet.Bus over etcd (every node of the fleet follows it,
// fleet.Follower); both pass internal/voicectl/bustest.
type Bus interface {
	Controller
	Revoker
}

// Session is what a voice token binds: who joins which channel, and the
// voice session id the control plane issued with the token.
type Session struct {
	GuildID, ChannelID, UserID, SessionID string
}

// Moderation is the server-side voice state a session starts with.
type Moderation struct {
	Mute, Deaf bool
}

// Admitter decides whether a voice session may start or resume. It is
// called once per Identify and Resume, never per packet.
type Admitter interface {
	// Admit returns the session's stored moderation, ErrRevoked if the
	// control plane no longer knows the session, or ErrNotManaged. Any
	// other error (the control plane is unreachable) refuses the session.
	Admit(ctx context.Context, s Session) (Moderation, error)
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

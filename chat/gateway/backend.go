package gateway

import (
	"context"
	"encoding/json"

	"github.com/parleyhq/parley/chat/model"
)

// Backend is what the gateway needs from the chat service (which
// implements it). It is never called with a gateway lock held, and may
// call Server.Dispatch* itself.
type Backend interface {
	// Authenticate resolves a token; for a bad one the error matches
	// model.ErrUnauthorized (close 4004), any other error closes with 4000.
	Authenticate(ctx context.Context, token string) (model.Auth, error)
	// CheckToken re-checks the token a session was opened with (every
	// Config.TokenCheck, and at its expiry): model.ErrUnauthorized ends the
	// session with 4004. Revocations are also pushed (CloseSessions).
	CheckToken(ctx context.Context, id model.TokenID) (model.Auth, error)
	// GuildsOf lists the guilds a user is a member of.
	GuildsOf(user model.Snowflake) []model.Snowflake
	// GuildCreate encodes the GUILD_CREATE `d` for a guild, as a session
	// with intents receives it.
	GuildCreate(guild model.Snowflake, intents model.Intent) ([]byte, error)
	// ReadState encodes READY's read_state for a user.
	ReadState(ctx context.Context, user model.Snowflake) (json.RawMessage, error)
	// SessionStarted reports a new session (identify) with identify's
	// presence; SessionEnded reports its end.
	SessionStarted(ctx context.Context, s model.SessionRef, p model.PresenceUpdate)
	// VoiceStateUpdate handles op 4.
	VoiceStateUpdate(ctx context.Context, s model.SessionRef, req model.VoiceStateRequest) error
	// PresenceUpdate handles op 3.
	PresenceUpdate(ctx context.Context, s model.SessionRef, p model.PresenceUpdate) error
	// GuildMembersChunk encodes a GUILD_MEMBERS_CHUNK `d` for op 8.
	GuildMembersChunk(ctx context.Context, s model.SessionRef, req model.RequestGuildMembers) ([]byte, error)
	// SessionEnded reports a session that can no longer resume.
	SessionEnded(s model.SessionRef)
}

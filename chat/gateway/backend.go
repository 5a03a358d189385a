package gateway

import (
	"context"
	"encoding/json"

	"github.com/parleyhq/parley/chat/model"
)

// SessionRef identifies a gateway session to the backend.
type SessionRef struct {
	ID     string
	UserID model.Snowflake
}

// Backend is what the gateway needs from the chat service. It is never
// called with a gateway lock held, and may call Server.Dispatch* itself.
type Backend interface {
	// Authenticate resolves a token; ErrAuth for a bad one.
	Authenticate(ctx context.Context, token string) (model.User, error)
	// GuildsOf lists the guilds a user is a member of.
	GuildsOf(user model.Snowflake) []model.Snowflake
	// GuildCreate encodes the GUILD_CREATE `d` for a guild.
	GuildCreate(guild model.Snowflake) ([]byte, error)
	// VoiceStateUpdate handles op 4.
	VoiceStateUpdate(ctx context.Context, s SessionRef, req VoiceStateRequest) error
	// PresenceUpdate handles op 3.
	PresenceUpdate(ctx context.Context, s SessionRef, d json.RawMessage) error
	// GuildMembersChunk encodes a GUILD_MEMBERS_CHUNK `d` for op 8.
	GuildMembersChunk(ctx context.Context, s SessionRef, req RequestGuildMembers) ([]byte, error)
	// SessionEnded reports a session that can no longer resume.
	SessionEnded(s SessionRef)
}

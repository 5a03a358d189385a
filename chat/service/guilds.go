package service

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/chat/model"
)

// guildObject is the REST guild shape.
type guildObject struct {
	model.Guild
	Icon                        *string      `json:"icon"`
	Splash                      *string      `json:"splash"`
	Banner                      *string      `json:"banner"`
	AFKChannelID                *string      `json:"afk_channel_id"`
	Roles                       []model.Role `json:"roles"`
	Emojis                      []any        `json:"emojis"`
	Stickers                    []any        `json:"stickers"`
	Features                    []string     `json:"features"`
	MFALevel                    int          `json:"mfa_level"`
	DefaultMessageNotifications int          `json:"default_message_notifications"`
	ExplicitContentFilter       int          `json:"explicit_content_filter"`
	SystemChannelFlags          int          `json:"system_channel_flags"`
	PremiumTier                 int          `json:"premium_tier"`
	NSFWLevel                   int          `json:"nsfw_level"`
	ApplicationID               *string      `json:"application_id"`
	RulesChannelID              *string      `json:"rules_channel_id"`
	PublicUpdatesChannelID      *string      `json:"public_updates_channel_id"`
	VanityURLCode               *string      `json:"vanity_url_code"`
	PremiumProgressBarEnabled   bool         `json:"premium_progress_bar_enabled"`
	Region                      string       `json:"region"`
}

// guildCreate is the GUILD_CREATE shape.
type guildCreate struct {
	guildObject
	JoinedAt             string               `json:"joined_at"`
	Large                bool                 `json:"large"`
	Unavailable          bool                 `json:"unavailable"`
	MemberCount          int                  `json:"member_count"`
	Members              []model.MemberObject `json:"members"`
	Channels             []model.Channel      `json:"channels"`
	Threads              []any                `json:"threads"`
	VoiceStates          []model.VoiceState   `json:"voice_states"`
	Presences            []any                `json:"presences"`
	StageInstances       []any                `json:"stage_instances"`
	GuildScheduledEvents []any                `json:"guild_scheduled_events"`
	SoundboardSounds     []any                `json:"soundboard_sounds"`
}

// guildObject renders the REST guild object.
func guildObjectOf(g model.Guild, roles []model.Role) guildObject {
	g.PreferredLocale, g.AFKTimeout, g.MaxMembers, g.MaxVideoUsers = "en-US", 300, 500000, 25
	return guildObject{Guild: g, Roles: roles, Emojis: []any{}, Stickers: []any{}, Features: []string{}, Region: "local"}
}

// DefaultGuild is the seeded guild's id.
func (s *Service) DefaultGuild() model.Snowflake { return s.graph.defaultID() }

// Guild returns the REST guild object; user must be a member.
func (s *Service) Guild(user, guild model.Snowflake) (any, error) {
	v, err := s.graph.access(user, guild, 0)
	if err != nil {
		return nil, err
	}
	return guildObjectOf(v.guild, v.roles), nil
}

// GuildCreate encodes the GUILD_CREATE `d` for a session with intents (a
// gateway backend call): presences lists the online members' presences
// for a session with GUILD_PRESENCES and is empty otherwise, as Discord's.
func (s *Service) GuildCreate(guild model.Snowflake, intents model.Intent) ([]byte, error) {
	snap, err := s.graph.snapshot(guild)
	if err != nil {
		return nil, err
	}
	gc := guildCreate{
		guildObject: guildObjectOf(snap.guild, snap.roles), Channels: snap.channels, MemberCount: len(snap.members),
		Members: s.accounts.memberObjects(snap.members),
		Threads: []any{}, Presences: []any{}, StageInstances: []any{}, GuildScheduledEvents: []any{}, SoundboardSounds: []any{},
		JoinedAt: model.Timestamp(snap.guild.ID.Time()), Large: len(snap.members) > 250,
	}
	if intents.Has(model.IntentGuildPresences) {
		ids := make([]model.Snowflake, len(snap.members))
		for i, m := range snap.members {
			ids[i] = m.UserID
		}
		shown := s.online.shown(ids)
		for _, id := range ids { // by user id, as members
			if p, ok := shown[id]; ok {
				gc.Presences = append(gc.Presences, p.object(id, 0))
			}
		}
	}
	gc.VoiceStates = []model.VoiceState{}
	for _, e := range s.voice.Guild(guild) {
		gc.VoiceStates = append(gc.VoiceStates, e.State)
	}
	return json.Marshal(gc)
}

// GuildsOf lists a user's guilds by id (a gateway backend call).
func (s *Service) GuildsOf(user model.Snowflake) []model.Snowflake {
	var out []model.Snowflake
	for _, m := range s.graph.memberships(user) {
		out = append(out, m.guild.ID)
	}
	return out
}

// UserGuilds is GET /users/@me/guilds.
func (s *Service) UserGuilds(user model.Snowflake) []map[string]any {
	out := []map[string]any{}
	for _, m := range s.graph.memberships(user) {
		out = append(out, map[string]any{"id": m.guild.ID, "name": m.guild.Name, "icon": nil, "owner": m.guild.OwnerID == user,
			"permissions": strconv.FormatUint(m.perms, 10), "features": []string{}})
	}
	return out
}

// GuildChannels is GET /guilds/{id}/channels.
func (s *Service) GuildChannels(user, guild model.Snowflake) ([]model.Channel, error) {
	return s.graph.channels(user, guild)
}

// ModifyGuild is PATCH /guilds/{id} (name).
func (s *Service) ModifyGuild(ctx context.Context, user, guild model.Snowflake, name *string) (any, error) {
	v, err := s.graph.access(user, guild, model.PermManageGuild)
	if err != nil {
		return nil, err
	}
	g := v.guild
	if name != nil {
		n, err := checkName("name", strings.TrimSpace(*name), 2, 100)
		if err != nil {
			return nil, err
		}
		g.Name = n
	}
	if err := s.st.PutGuild(ctx, g); err != nil {
		return nil, err
	}
	obj := guildObjectOf(g, s.graph.setGuild(g))
	s.dispatcher().Dispatch(event("GUILD_UPDATE", guild, model.IntentGuilds, obj))
	return obj, nil
}

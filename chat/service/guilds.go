package service

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

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

func (s *Service) guildObjectLocked(gs *guildState) guildObject {
	g := gs.guild
	g.PreferredLocale, g.AFKTimeout, g.MaxMembers, g.MaxVideoUsers = "en-US", 300, 500000, 25
	roles := append([]model.Role(nil), gs.roles...)
	return guildObject{Guild: g, Roles: roles, Emojis: []any{}, Stickers: []any{}, Features: []string{}, Region: "local"}
}

func (s *Service) channelsLocked(gs *guildState) []model.Channel {
	out := make([]model.Channel, 0, len(gs.channels))
	for _, c := range gs.channels {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Position != out[j].Position {
			return out[i].Position < out[j].Position
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (s *Service) memberObjectLocked(m *model.Member) model.MemberObject {
	u := s.users[m.UserID]
	return m.Object(&u)
}

// Guild returns the REST guild object; user must be a member.
func (s *Service) Guild(user, guild model.Snowflake) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs, err := s.memberGuildLocked(user, guild)
	if err != nil {
		return nil, err
	}
	return s.guildObjectLocked(gs), nil
}

// GuildCreate encodes the GUILD_CREATE `d` (gateway.Backend).
func (s *Service) GuildCreate(guild model.Snowflake) ([]byte, error) {
	s.mu.RLock()
	gs := s.guilds[guild]
	if gs == nil {
		s.mu.RUnlock()
		return nil, ErrUnknownGuild
	}
	gc := guildCreate{
		guildObject: s.guildObjectLocked(gs), Channels: s.channelsLocked(gs), MemberCount: len(gs.members),
		Threads: []any{}, Presences: []any{}, StageInstances: []any{}, GuildScheduledEvents: []any{}, SoundboardSounds: []any{},
		JoinedAt: model.Timestamp(gs.guild.ID.Time()), Large: len(gs.members) > 250,
	}
	gc.Members = make([]model.MemberObject, 0, len(gs.members))
	for _, m := range gs.members {
		gc.Members = append(gc.Members, s.memberObjectLocked(m))
	}
	s.mu.RUnlock()
	sort.Slice(gc.Members, func(i, j int) bool { return gc.Members[i].User.ID < gc.Members[j].User.ID })
	gc.VoiceStates = []model.VoiceState{}
	for _, e := range s.voice.Guild(guild) {
		gc.VoiceStates = append(gc.VoiceStates, e.State)
	}
	return json.Marshal(gc)
}

// GuildsOf lists a user's guilds (gateway.Backend).
func (s *Service) GuildsOf(user model.Snowflake) []model.Snowflake {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []model.Snowflake
	for id, gs := range s.guilds {
		if gs.members[user] != nil {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// UserGuilds is GET /users/@me/guilds.
func (s *Service) UserGuilds(user model.Snowflake) []map[string]any {
	var out []map[string]any
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range s.guildIDsLocked(user) {
		gs := s.guilds[id]
		out = append(out, map[string]any{"id": id, "name": gs.guild.Name, "icon": nil, "owner": gs.guild.OwnerID == user,
			"permissions": strconv.FormatUint(s.permsLocked(gs, user), 10), "features": []string{}})
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out
}

func (s *Service) guildIDsLocked(user model.Snowflake) []model.Snowflake {
	var out []model.Snowflake
	for id, gs := range s.guilds {
		if gs.members[user] != nil {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// memberGuildLocked returns the guild if user is a member.
func (s *Service) memberGuildLocked(user, guild model.Snowflake) (*guildState, error) {
	gs := s.guilds[guild]
	if gs == nil {
		return nil, ErrUnknownGuild
	}
	if gs.members[user] == nil {
		return nil, ErrMissingAccess
	}
	return gs, nil
}

// permsLocked computes a member's guild permissions.
func (s *Service) permsLocked(gs *guildState, user model.Snowflake) uint64 {
	if gs.guild.OwnerID == user {
		return ^uint64(0) >> 1
	}
	m := gs.members[user]
	if m == nil {
		return 0
	}
	var p uint64
	for _, r := range gs.roles {
		has := r.ID == gs.guild.ID
		for _, id := range m.Roles {
			has = has || id == r.ID
		}
		if has {
			v, _ := strconv.ParseUint(r.Permissions, 10, 64)
			p |= v
		}
	}
	if p&model.PermAdministrator != 0 {
		return ^uint64(0) >> 1
	}
	return p
}

func (s *Service) require(gs *guildState, user model.Snowflake, perm uint64) error {
	if gs.members[user] == nil {
		return ErrMissingAccess
	}
	if s.permsLocked(gs, user)&perm != perm {
		return ErrMissingPermissions
	}
	return nil
}

// channelLocked returns a channel and its guild.
func (s *Service) channelLocked(id model.Snowflake) (*model.Channel, *guildState, error) {
	g, ok := s.channelGuild[id]
	if !ok {
		return nil, nil, ErrUnknownChannel
	}
	gs := s.guilds[g]
	c := gs.channels[id]
	if c == nil {
		return nil, nil, ErrUnknownChannel
	}
	return c, gs, nil
}

// GuildChannels is GET /guilds/{id}/channels.
func (s *Service) GuildChannels(user, guild model.Snowflake) ([]model.Channel, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs, err := s.memberGuildLocked(user, guild)
	if err != nil {
		return nil, err
	}
	return s.channelsLocked(gs), nil
}

// GuildMembers is GET /guilds/{id}/members (limit 1-1000, after user id).
func (s *Service) GuildMembers(user, guild model.Snowflake, limit int, after model.Snowflake) ([]model.MemberObject, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs, err := s.memberGuildLocked(user, guild)
	if err != nil {
		return nil, err
	}
	ids := make([]model.Snowflake, 0, len(gs.members))
	for id := range gs.members {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if limit < 1 {
		limit = 1
	}
	ids = ids[:min(len(ids), limit)]
	out := make([]model.MemberObject, len(ids))
	for i, id := range ids {
		out[i] = s.memberObjectLocked(gs.members[id])
	}
	return out, nil
}

// Member is GET /guilds/{id}/members/{user}.
func (s *Service) Member(user, guild, target model.Snowflake) (model.MemberObject, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs, err := s.memberGuildLocked(user, guild)
	if err != nil {
		return model.MemberObject{}, err
	}
	m := gs.members[target]
	if m == nil {
		return model.MemberObject{}, ErrUnknownMember
	}
	return s.memberObjectLocked(m), nil
}

// ModifyGuild is PATCH /guilds/{id} (name).
func (s *Service) ModifyGuild(ctx context.Context, user, guild model.Snowflake, name *string) (any, error) {
	s.mu.RLock()
	gs, err := s.memberGuildLocked(user, guild)
	if err == nil {
		err = s.require(gs, user, model.PermManageGuild)
	}
	var g model.Guild
	if gs != nil {
		g = gs.guild
	}
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if name != nil {
		n := strings.TrimSpace(*name)
		if len(n) < 2 || len(n) > 100 {
			return nil, fieldErr("name", "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length.")
		}
		g.Name = n
	}
	if err := s.st.PutGuild(ctx, g); err != nil {
		return nil, err
	}
	s.mu.Lock()
	gs.guild = g
	obj := s.guildObjectLocked(gs)
	s.mu.Unlock()
	s.dispatcher().Dispatch(event("GUILD_UPDATE", guild, model.IntentGuilds, obj))
	return obj, nil
}

// GuildMembersChunk answers gateway op 8.
func (s *Service) guildMembersChunk(guild model.Snowflake, query string, limit int, nonce string) (map[string]any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gs := s.guilds[guild]
	if gs == nil {
		return nil, ErrUnknownGuild
	}
	if limit <= 0 {
		limit = len(gs.members)
	}
	var out []model.MemberObject
	for _, m := range gs.members {
		u := s.users[m.UserID]
		if query == "" || strings.HasPrefix(strings.ToLower(u.Username), strings.ToLower(query)) {
			out = append(out, s.memberObjectLocked(m))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User.ID < out[j].User.ID })
	out = out[:min(len(out), limit)]
	if out == nil {
		out = []model.MemberObject{}
	}
	d := map[string]any{"guild_id": guild, "members": out, "chunk_index": 0, "chunk_count": 1, "not_found": []any{}}
	if nonce != "" {
		d["nonce"] = nonce
	}
	return d, nil
}

func nowTS() string { return model.Timestamp(time.Now()) }

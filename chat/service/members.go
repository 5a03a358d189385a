package service

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/voicectl"
)

// MemberPatch is PATCH /guilds/{id}/members/{user}. ChannelSet with a nil
// ChannelID disconnects the member from voice; a channel id moves them.
type MemberPatch struct {
	Nick       *string          `json:"nick"`
	Mute       *bool            `json:"mute"`
	Deaf       *bool            `json:"deaf"`
	ChannelID  *model.Snowflake `json:"channel_id"`
	ChannelSet bool             `json:"-"`
}

// memberObject renders a member with its user.
func (s *Service) memberObject(m model.Member) model.MemberObject {
	u, _ := s.accounts.user(m.UserID)
	return m.Object(&u)
}

// GuildMembers is GET /guilds/{id}/members (limit 1-1000, after user id).
func (s *Service) GuildMembers(user, guild model.Snowflake, limit int, after model.Snowflake) ([]model.MemberObject, error) {
	all, err := s.graph.members(user, guild)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].UserID > after })
	page := all[i:]
	if limit < 1 {
		limit = 1
	}
	return s.accounts.memberObjects(page[:min(len(page), limit)]), nil
}

// Member is GET /guilds/{id}/members/{user}.
func (s *Service) Member(user, guild, target model.Snowflake) (model.MemberObject, error) {
	if _, err := s.graph.access(user, guild, 0); err != nil {
		return model.MemberObject{}, err
	}
	m, ok := s.graph.member(guild, target)
	if !ok {
		return model.MemberObject{}, ErrUnknownMember
	}
	return s.memberObject(m), nil
}

// MaxChunkNonce is the longest op 8 nonce echoed in GUILD_MEMBERS_CHUNK
// (bytes, Discord's limit).
const MaxChunkNonce = 32

// GuildMembersChunk handles gateway op 8: the members whose username
// starts with the query (case-insensitive), at most limit (0: all).
func (s *Service) GuildMembersChunk(_ context.Context, ref model.SessionRef, req model.RequestGuildMembers) ([]byte, error) {
	all, err := s.graph.members(ref.UserID, req.GuildID)
	if err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = len(all)
	}
	out := s.accounts.memberObjectsMatching(all, model.UsernameKey(req.Query), limit)
	d := map[string]any{"guild_id": req.GuildID, "members": out, "chunk_index": 0, "chunk_count": 1, "not_found": []any{}}
	if req.Nonce != "" && len(req.Nonce) <= MaxChunkNonce { // Discord ignores a longer one
		d["nonce"] = req.Nonce
	}
	return json.Marshal(d)
}

// AddMember makes user a member of guild and tells the gateway.
func (s *Service) AddMember(ctx context.Context, guild, user model.Snowflake) error {
	if !s.graph.exists(guild) {
		return ErrUnknownGuild
	}
	u, ok := s.accounts.user(user)
	if !ok {
		return ErrUnknownUser
	}
	if _, already := s.graph.member(guild, user); already {
		return nil
	}
	m := model.Member{GuildID: guild, UserID: user, JoinedAt: time.Now().UTC(), Roles: []model.Snowflake{}}
	if err := s.st.PutMember(ctx, m); err != nil {
		return err
	}
	s.graph.addMember(m)
	obj := m.Object(&u)
	gid := guild
	obj.GuildID = &gid
	d := s.dispatcher()
	d.Dispatch(event("GUILD_MEMBER_ADD", guild, model.IntentGuildMembers, obj))
	d.JoinGuild(user, guild) // encodes GUILD_CREATE only if user has sessions
	if p, ok := s.online.shown([]model.Snowflake{user})[user]; ok {
		d.Dispatch(event("PRESENCE_UPDATE", guild, model.IntentGuildPresences, p.object(user, guild)))
	}
	return nil
}

// grantAdmin gives a member of the default guild its Admin role.
func (s *Service) grantAdmin(ctx context.Context, user model.Snowflake) error {
	g := s.graph.defaultID()
	m, ok := s.graph.member(g, user)
	if !ok {
		return ErrUnknownMember
	}
	admin := s.graph.roleNamed(g, "Admin")
	if admin == 0 {
		return ErrUnknownGuild
	}
	m.Roles = append(append([]model.Snowflake(nil), m.Roles...), admin)
	if err := s.st.PutMember(ctx, m); err != nil {
		return err
	}
	s.graph.addMember(m)
	return nil
}

// ModifyMember applies moderation: server mute/deafen reach the SFU, a
// channel move issues a new voice token, channel_id null disconnects.
func (s *Service) ModifyMember(ctx context.Context, user, guild, target model.Snowflake, p MemberPatch) (model.MemberObject, error) {
	v, err := s.graph.access(user, guild, 0)
	if err != nil {
		return model.MemberObject{}, err
	}
	m, ok := s.graph.member(guild, target)
	if !ok {
		return model.MemberObject{}, ErrUnknownMember
	}
	var need uint64
	if p.Mute != nil {
		need |= model.PermMuteMembers
	}
	if p.Deaf != nil {
		need |= model.PermDeafenMembers
	}
	if p.ChannelSet {
		need |= model.PermMoveMembers
	}
	if p.Nick != nil && user != target {
		need |= model.PermManageGuild
	}
	if v.perms&need != need {
		return model.MemberObject{}, ErrMissingPermissions
	}
	if p.Nick != nil {
		if *p.Nick == "" {
			m.Nick = nil
		} else {
			n, err := checkName("nick", *p.Nick, 1, 32)
			if err != nil {
				return model.MemberObject{}, err
			}
			m.Nick = &n
		}
	}
	if p.Mute != nil {
		m.Mute = *p.Mute
	}
	if p.Deaf != nil {
		m.Deaf = *p.Deaf
	}
	if err := s.st.PutMember(ctx, m); err != nil {
		return model.MemberObject{}, err
	}
	s.graph.updateMember(m)
	obj := s.memberObject(m)
	gid := guild
	obj.GuildID = &gid
	s.dispatcher().Dispatch(event("GUILD_MEMBER_UPDATE", guild, model.IntentGuildMembers, obj))
	if p.Mute != nil || p.Deaf != nil {
		s.applyServerVoice(ctx, guild, target, m.Mute, m.Deaf)
	}
	if p.ChannelSet {
		if p.ChannelID == nil {
			s.disconnectVoice(ctx, guild, target)
		} else if err := s.moveVoice(ctx, guild, target, *p.ChannelID); err != nil {
			return obj, err
		}
	}
	obj.GuildID = nil
	return obj, nil
}

// KickMember is DELETE /guilds/{id}/members/{user}: voice is disconnected,
// the member removed and the user's sessions get GUILD_DELETE. Members may
// leave themselves; the owner cannot be kicked.
func (s *Service) KickMember(ctx context.Context, user, guild, target model.Snowflake) error {
	v, err := s.graph.access(user, guild, 0)
	if err != nil {
		return err
	}
	if target != user && v.perms&model.PermKickMembers == 0 {
		return ErrMissingPermissions
	}
	if _, ok := s.graph.member(guild, target); !ok {
		return ErrUnknownMember
	}
	if v.guild.OwnerID == target {
		return ErrMissingPermissions
	}
	u, _ := s.accounts.user(target)
	s.disconnectVoice(ctx, guild, target)
	if err := s.st.DeleteMember(ctx, guild, target); err != nil {
		return err
	}
	s.graph.removeMember(guild, target)
	d := s.dispatcher()
	d.Dispatch(event("GUILD_MEMBER_REMOVE", guild, model.IntentGuildMembers, map[string]any{"guild_id": guild, "user": u}))
	d.LeaveGuild(target, guild)
	return nil
}

// applyServerVoice pushes server mute/deafen to the SFU and the guild.
func (s *Service) applyServerVoice(ctx context.Context, guild, user model.Snowflake, mute, deaf bool) {
	e, ok := s.voice.SetServer(guild, user, mute, deaf)
	if !ok {
		return
	}
	if v := s.cfg.Voice; v != nil {
		if err := v.SetServerMute(ctx, guild.String(), user.String(), mute); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice server mute", "guild", guild, "user", user, "err", err)
		}
		if err := v.SetServerDeaf(ctx, guild.String(), user.String(), deaf); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice server deaf", "guild", guild, "user", user, "err", err)
		}
	}
	s.dispatchVoiceState(e.State)
}

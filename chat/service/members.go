package service

import (
	"context"
	"errors"

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

// ModifyMember applies moderation: server mute/deafen reach the SFU, a
// channel move issues a new voice token, channel_id null disconnects.
func (s *Service) ModifyMember(ctx context.Context, user, guild, target model.Snowflake, p MemberPatch) (model.MemberObject, error) {
	s.mu.RLock()
	gs, err := s.memberGuildLocked(user, guild)
	var m model.Member
	if err == nil {
		if cur := gs.members[target]; cur == nil {
			err = ErrUnknownMember
		} else {
			m = *cur
		}
	}
	if err == nil && p.Mute != nil {
		err = s.require(gs, user, model.PermMuteMembers)
	}
	if err == nil && p.Deaf != nil {
		err = s.require(gs, user, model.PermDeafenMembers)
	}
	if err == nil && p.ChannelSet {
		err = s.require(gs, user, model.PermMoveMembers)
	}
	if err == nil && p.Nick != nil && user != target {
		err = s.require(gs, user, model.PermManageGuild)
	}
	s.mu.RUnlock()
	if err != nil {
		return model.MemberObject{}, err
	}
	if p.Nick != nil {
		n := *p.Nick
		if len(n) > 32 {
			return model.MemberObject{}, fieldErr("nick", "BASE_TYPE_MAX_LENGTH", "Must be 32 or fewer in length.")
		}
		if n == "" {
			m.Nick = nil
		} else {
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
	s.mu.Lock()
	if gs.members[target] != nil {
		mm := m
		gs.members[target] = &mm
	}
	obj := s.memberObjectLocked(&m)
	s.mu.Unlock()
	gid := guild
	obj.GuildID = &gid
	s.dispatcher().Dispatch(event("GUILD_MEMBER_UPDATE", guild, model.IntentGuildMembers, obj))
	if p.Mute != nil || p.Deaf != nil {
		s.applyServerVoice(guild, target, m.Mute, m.Deaf)
	}
	if p.ChannelSet {
		if p.ChannelID == nil {
			s.disconnectVoice(guild, target)
		} else if err := s.moveVoice(ctx, guild, target, *p.ChannelID); err != nil {
			return obj, err
		}
	}
	obj.GuildID = nil
	return obj, nil
}

// KickMember is DELETE /guilds/{id}/members/{user}: voice is disconnected,
// the member removed and the user's sessions get GUILD_DELETE.
func (s *Service) KickMember(ctx context.Context, user, guild, target model.Snowflake) error {
	s.mu.RLock()
	gs, err := s.memberGuildLocked(user, guild)
	if err == nil && target != user {
		err = s.require(gs, user, model.PermKickMembers)
	}
	if err == nil && gs.members[target] == nil {
		err = ErrUnknownMember
	}
	if err == nil && gs.guild.OwnerID == target {
		err = ErrMissingPermissions
	}
	u := s.users[target]
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	s.disconnectVoice(guild, target)
	if err := s.st.DeleteMember(ctx, guild, target); err != nil {
		return err
	}
	s.mu.Lock()
	delete(gs.members, target)
	s.mu.Unlock()
	d := s.dispatcher()
	d.Dispatch(event("GUILD_MEMBER_REMOVE", guild, model.IntentGuildMembers, map[string]any{"guild_id": guild, "user": u}))
	d.LeaveGuild(target, guild)
	return nil
}

// applyServerVoice pushes server mute/deafen to the SFU and the guild.
func (s *Service) applyServerVoice(guild, user model.Snowflake, mute, deaf bool) {
	e, ok := s.voice.SetServer(guild, user, mute, deaf)
	if !ok {
		return
	}
	if v := s.cfg.Voice; v != nil {
		if err := v.SetServerMute(guild.String(), user.String(), mute); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice server mute", "guild", guild, "user", user, "err", err)
		}
		if err := v.SetServerDeaf(guild.String(), user.String(), deaf); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice server deaf", "guild", guild, "user", user, "err", err)
		}
	}
	s.dispatchVoiceState(e.State)
}

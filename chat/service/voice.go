package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/voicestate"
	"github.com/parleyhq/parley/internal/voicectl"
)

// VoiceStateUpdate handles gateway op 4 (shared/docs/voice-protocol.md §4):
// VOICE_STATE_UPDATE to the guild first, then, on a join or move,
// VOICE_SERVER_UPDATE with a fresh token to the requesting session only.
func (s *Service) VoiceStateUpdate(ctx context.Context, ref model.SessionRef, req model.VoiceStateRequest) error {
	if req.ChannelID == nil {
		if !s.graph.exists(req.GuildID) {
			return ErrUnknownGuild
		}
		s.leaveVoice(req.GuildID, ref.UserID, false)
		return nil
	}
	c, err := s.graph.channel(*req.ChannelID)
	switch {
	case err != nil:
		return err
	case c.GuildID != req.GuildID:
		return ErrUnknownChannel
	case c.Type != model.ChannelVoice:
		return fmt.Errorf("%w: not a voice channel", ErrUnknownChannel)
	}
	v, err := s.graph.channelAccess(ref.UserID, *req.ChannelID, model.PermConnect)
	if err != nil {
		return err
	}
	mute, deaf := v.member.Mute, v.member.Deaf
	var region string
	if v.channel.RTCRegion != nil {
		region = *v.channel.RTCRegion
	}
	return s.joinVoice(ctx, req.GuildID, ref.UserID, *req.ChannelID, req.SelfMute, req.SelfDeaf, ref.ID, mute, deaf, region)
}

// joinVoice records the state and performs the hand-off when needed.
func (s *Service) joinVoice(ctx context.Context, guild, user, channel model.Snowflake, selfMute, selfDeaf bool, gwSession string, mute, deaf bool, region string) error {
	if s.cfg.Registry == nil || s.cfg.VoiceSigner == nil {
		return ErrNoVoice
	}
	prev, had := s.voice.Get(guild, user)
	needs := !had || prev.State.ChannelID == nil || *prev.State.ChannelID != channel
	var endpoint string
	if needs {
		node, err := s.cfg.Registry.Pick(ctx, region)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoVoice, err)
		}
		endpoint = node.Endpoint
	}
	var token string
	change := s.voice.Join(guild, user, channel, selfMute, selfDeaf, gwSession, mute, deaf, func() string {
		claims, tok := s.cfg.VoiceSigner.IssueFor(user.String(), guild.String(), channel.String(), s.cfg.VoiceTokenTTL, time.Now())
		token = tok
		return claims.SessionID
	})
	s.dispatchVoiceState(change.New.State)
	if change.Handoff {
		ev := event("VOICE_SERVER_UPDATE", 0, 0, map[string]any{"token": token, "guild_id": guild, "endpoint": endpoint})
		if !s.dispatcher().DispatchSession(change.New.GatewaySession, ev) {
			s.dispatcher().DispatchUser(user, ev)
		}
	}
	return nil
}

// moveVoice moves a connected member to another voice channel (new token).
func (s *Service) moveVoice(ctx context.Context, guild, user, channel model.Snowflake) error {
	e, ok := s.voice.Get(guild, user)
	if !ok {
		return fmt.Errorf("%w: target user is not connected to voice", ErrInvalidForm)
	}
	c, err := s.graph.channel(channel)
	if err == nil && (c.GuildID != guild || c.Type != model.ChannelVoice) {
		err = ErrUnknownChannel
	}
	if err != nil {
		return err
	}
	var region string
	if c.RTCRegion != nil {
		region = *c.RTCRegion
	}
	st := e.State
	return s.joinVoice(ctx, guild, user, channel, st.SelfMute, st.SelfDeaf, e.GatewaySession, st.Mute, st.Deaf, region)
}

// disconnectVoice ends a member's voice session at the SFU and tells the
// guild (moderation, kick, channel deletion).
func (s *Service) disconnectVoice(guild, user model.Snowflake) { s.leaveVoice(guild, user, true) }

func (s *Service) leaveVoice(guild, user model.Snowflake, force bool) {
	change := s.voice.Leave(guild, user)
	if v := s.cfg.Voice; v != nil && (force || change.Old != nil) {
		if err := v.Disconnect(guild.String(), user.String()); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice disconnect", "guild", guild, "user", user, "err", err)
		}
	}
	st := model.VoiceState{GuildID: guild, UserID: user}
	if change.Old != nil {
		st = change.Old.State
		st.ChannelID = nil
	}
	s.dispatchVoiceState(st)
}

// dispatchVoiceState sends VOICE_STATE_UPDATE with the member object
// (discord.js feeds its voice adapter from it).
func (s *Service) dispatchVoiceState(st model.VoiceState) {
	if m, ok := s.graph.member(st.GuildID, st.UserID); ok {
		obj := s.memberObject(m)
		st.Member = &obj
	}
	s.dispatcher().Dispatch(event("VOICE_STATE_UPDATE", st.GuildID, model.IntentGuildVoiceStates, st))
}

// VoiceStates returns a guild's voice states.
func (s *Service) VoiceStates(guild model.Snowflake) []voicestate.Entry { return s.voice.Guild(guild) }

// VoiceRegions is GET /voice/regions.
func (s *Service) VoiceRegions(ctx context.Context) []map[string]any {
	out := []map[string]any{}
	if s.cfg.Registry == nil {
		return out
	}
	nodes, _ := s.cfg.Registry.Nodes(ctx)
	seen := map[string]bool{}
	for i, n := range nodes {
		if seen[n.Region] {
			continue
		}
		seen[n.Region] = true
		out = append(out, map[string]any{"id": n.Region, "name": n.Region, "optimal": i == 0, "deprecated": false, "custom": false})
	}
	return out
}

// SessionEnded leaves voice for a gateway session that can no longer resume
// (a gateway backend call).
func (s *Service) SessionEnded(ref model.SessionRef) {
	for _, e := range s.voice.BySession(ref.ID) {
		s.leaveVoice(e.State.GuildID, e.State.UserID, true)
	}
}

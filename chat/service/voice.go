package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/voicestate"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// VoiceStateUpdate handles gateway op 4 (shared/docs/voice-protocol.md §4):
// VOICE_STATE_UPDATE to the guild first, then, on a join or move,
// VOICE_SERVER_UPDATE with a fresh token to the requesting session only.
func (s *Service) VoiceStateUpdate(ctx context.Context, ref model.SessionRef, req model.VoiceStateRequest) error {
	if req.ChannelID == nil {
		// Leaving: only a member's own state, and only if there is one
		// (a non-member could otherwise put VOICE_STATE_UPDATEs into any
		// guild).
		if _, ok := s.graph.member(req.GuildID, ref.UserID); !ok {
			return ErrUnknownGuild
		}
		s.leaveVoice(ctx, req.GuildID, ref.UserID, false)
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
	return s.joinVoice(ctx, req.GuildID, ref.UserID, req.SelfMute, req.SelfDeaf, ref.ID, v, false)
}

// joinVoice records the state and performs the hand-off when needed. The
// channel's user_limit holds unless moved (a moderator's move) or the
// member may move members (Discord lets them into full channels).
func (s *Service) joinVoice(ctx context.Context, guild, user model.Snowflake, selfMute, selfDeaf bool, gwSession string, v channelView, moved bool) error {
	if s.cfg.Registry == nil || s.cfg.VoiceSigner == nil {
		return ErrNoVoice
	}
	channel := v.channel.ID
	prev, had := s.voice.Get(guild, user)
	needs := !had || prev.State.ChannelID == nil || *prev.State.ChannelID != channel
	var endpoint string
	if needs {
		var err error
		if endpoint, err = s.pickEndpoint(ctx, v.channel); err != nil {
			return err
		}
	}
	limit := v.channel.UserLimit
	if moved || v.perms&(model.PermMoveMembers|model.PermAdministrator) != 0 {
		limit = 0
	}
	var token string
	change, err := s.voice.Join(voicestate.JoinRequest{Guild: guild, User: user, Channel: channel,
		SelfMute: selfMute, SelfDeaf: selfDeaf, GatewaySession: gwSession,
		Mute: v.member.Mute, Deaf: v.member.Deaf, Limit: limit}, func() string {
		claims := voicetoken.Claims{UserID: user.String(), GuildID: guild.String(), ChannelID: channel.String(),
			SessionID: voicetoken.NewSessionID(), Expires: time.Now().Add(s.cfg.VoiceTokenTTL).Unix(),
			Mute: v.member.Mute, Deaf: v.member.Deaf}
		token = s.cfg.VoiceSigner.Issue(claims)
		return claims.SessionID
	})
	if errors.Is(err, voicestate.ErrChannelFull) {
		return ErrChannelFull
	} else if err != nil {
		return err
	}
	if o := change.Old; o != nil && change.New != nil && o.State.SessionID != change.New.State.SessionID {
		s.revokeVoice(ctx, o.State) // moved channel: the old session's tokens are void
	}
	if change.Handoff && endpoint == "" {
		// A concurrent leave or move made this update a join after needs
		// was decided: the hand-off needs a server all the same.
		if endpoint, err = s.pickEndpoint(ctx, v.channel); err != nil {
			s.leaveVoice(ctx, guild, user, false)
			return err
		}
	}
	s.dispatchVoiceState(change.New.State)
	if change.Handoff {
		ev := event("VOICE_SERVER_UPDATE", 0, 0, map[string]any{"token": token, "guild_id": guild, "endpoint": endpoint})
		if !s.dispatcher().DispatchSession(change.New.GatewaySession, ev) {
			s.dispatcher().DispatchUser(user, ev)
		}
	}
	return nil
}

// pickEndpoint returns the endpoint of the voice node the channel is
// placed on (Registry.Place: its rtc_region if set, else the region
// nearest this control plane's; placed once, kept while its node lives).
func (s *Service) pickEndpoint(ctx context.Context, c model.Channel) (string, error) {
	req := voicectl.PlaceRequest{Channel: c.ID.String(), Preferred: s.cfg.VoiceRegion}
	if c.RTCRegion != nil {
		req.Region = *c.RTCRegion
	}
	node, err := s.cfg.Registry.Place(ctx, req)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoVoice, err)
	}
	if node.State == voicectl.NodeDraining {
		// The channel's node drains: its members are being moved, and
		// a joiner goes where they go (if any other node takes it).
		req.From = node.ID
		if moved, err := s.cfg.Registry.Place(ctx, req); err == nil {
			node = moved
		}
	}
	s.placed.set(req.Channel, node.ID)
	return node.Endpoint, nil
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
	// The moved member must be able to connect there; the mover's right
	// to move (checked by the caller) lifts the user limit.
	v, err := s.graph.channelAccess(user, channel, model.PermConnect)
	if err != nil {
		return err
	}
	st := e.State
	return s.joinVoice(ctx, guild, user, st.SelfMute, st.SelfDeaf, e.GatewaySession, v, true)
}

// disconnectVoice ends a member's voice session at the SFU and tells the
// guild (moderation, kick, channel deletion).
func (s *Service) disconnectVoice(ctx context.Context, guild, user model.Snowflake) {
	s.leaveVoice(ctx, guild, user, true)
}

func (s *Service) leaveVoice(ctx context.Context, guild, user model.Snowflake, force bool) {
	change := s.voice.Leave(guild, user)
	if change.Old == nil && !force {
		return // nothing to leave, nothing to tell
	}
	if v := s.cfg.Voice; v != nil {
		if err := v.Disconnect(ctx, guild.String(), user.String()); err != nil && !errors.Is(err, voicectl.ErrNotConnected) {
			s.log.Warn("voice disconnect", "guild", guild, "user", user, "err", err)
		}
	}
	st := model.VoiceState{GuildID: guild, UserID: user}
	if change.Old != nil {
		s.revokeVoice(ctx, change.Old.State)
		st = change.Old.State
		st.ChannelID = nil
	}
	s.dispatchVoiceState(st)
}

// revokeVoice revokes a voice session chat no longer knows on every node
// (cfg.Voice, when it is a voicectl.Revoker): no token issued for it, up
// to now, is admitted there again, even by a node that cannot ask chat.
func (s *Service) revokeVoice(ctx context.Context, st model.VoiceState) {
	r, ok := s.cfg.Voice.(voicectl.Revoker)
	if !ok || st.SessionID == "" {
		return
	}
	vs := voicectl.Session{GuildID: st.GuildID.String(), UserID: st.UserID.String(), SessionID: st.SessionID}
	if st.ChannelID != nil {
		vs.ChannelID = st.ChannelID.String()
	}
	if err := r.Revoke(ctx, vs, time.Now().Add(s.cfg.VoiceTokenTTL)); err != nil {
		s.log.Warn("voice revoke", "guild", st.GuildID, "user", st.UserID, "err", err)
	}
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

// VoiceRegions is GET /voice/regions: the regions with a live (serving or
// draining) node, nearest to this control plane's region first; the
// nearest is "optimal".
func (s *Service) VoiceRegions(ctx context.Context) []map[string]any {
	out := []map[string]any{}
	for i, r := range s.liveRegions(ctx) {
		out = append(out, map[string]any{"id": r, "name": r, "optimal": i == 0, "deprecated": false, "custom": false})
	}
	return out
}

// liveRegions lists the regions with a node in the registry, nearest to
// cfg.VoiceRegion first (then by name).
func (s *Service) liveRegions(ctx context.Context) []string {
	if s.cfg.Registry == nil {
		return nil
	}
	nodes, _ := s.cfg.Registry.Nodes(ctx)
	var regions []string
	for _, n := range nodes {
		if !slices.Contains(regions, n.Region) {
			regions = append(regions, n.Region)
		}
	}
	slices.SortFunc(regions, func(a, b string) int {
		return cmp.Or(cmp.Compare(voicectl.Distance(s.cfg.VoiceRegion, a), voicectl.Distance(s.cfg.VoiceRegion, b)), cmp.Compare(a, b))
	})
	return regions
}

// SessionEnded leaves voice for a gateway session that can no longer resume
// and counts it gone for presence (the user's last session takes it
// offline; a gateway backend call).
func (s *Service) SessionEnded(ref model.SessionRef) {
	ctx, cancel := context.WithTimeout(context.Background(), voiceCallTimeout)
	defer cancel()
	for _, e := range s.voice.BySession(ref.ID) {
		s.leaveVoice(ctx, e.State.GuildID, e.State.UserID, true)
	}
	s.sessionGone(ref.UserID)
}

// voiceCallTimeout bounds calls to voice nodes made on no request's behalf.
const voiceCallTimeout = 10 * time.Second

// Admit answers a voice node's question at every Identify and Resume
// (voicectl.Admitter): is this voice session one chat still knows — the
// member's current voice state in that channel, issued with that session
// id, and the member may still connect there — and with which server mute
// and deafen does it start. Chat's stored state is the truth, so a kick,
// a leave, a lost permission or a deleted channel refuses every token
// issued before, on every node, without any polling.
func (s *Service) Admit(ctx context.Context, vs voicectl.Session) (voicectl.Moderation, error) {
	guild, err := model.ParseSnowflake(vs.GuildID)
	if err != nil || !s.graph.exists(guild) {
		return voicectl.Moderation{}, voicectl.ErrNotManaged
	}
	user, uerr := model.ParseSnowflake(vs.UserID)
	channel, cerr := model.ParseSnowflake(vs.ChannelID)
	if uerr != nil || cerr != nil {
		return voicectl.Moderation{}, voicectl.ErrRevoked
	}
	e, ok := s.voice.Get(guild, user)
	if !ok || e.State.SessionID != vs.SessionID || e.State.ChannelID == nil || *e.State.ChannelID != channel {
		return voicectl.Moderation{}, voicectl.ErrRevoked
	}
	v, err := s.graph.channelAccess(user, channel, model.PermConnect)
	if err != nil {
		s.disconnectVoice(ctx, guild, user) // access lost since the join
		return voicectl.Moderation{}, voicectl.ErrRevoked
	}
	return voicectl.Moderation{Mute: v.member.Mute, Deaf: v.member.Deaf}, nil
}

// Moderation is the operator's voice moderation (the admin API) as a
// voicectl.Controller over chat's stored state: a server mute or deafen is
// stored on the member, as a moderator's PATCH would (with the guild
// owner's authority), told to the guild and pushed to the voice session;
// so it holds when the member joins later or reconnects. A guild chat does
// not manage answers voicectl.ErrNotManaged.
func (s *Service) Moderation() voicectl.Controller { return moderation{s} }

type moderation struct{ s *Service }

func (m moderation) target(guildID, userID string) (guild, user, owner model.Snowflake, err error) {
	guild, gerr := model.ParseSnowflake(guildID)
	if gerr != nil {
		return 0, 0, 0, voicectl.ErrNotManaged
	}
	owner, ok := m.s.graph.owner(guild)
	if !ok {
		return 0, 0, 0, voicectl.ErrNotManaged
	}
	user, err = model.ParseSnowflake(userID)
	if err != nil {
		return 0, 0, 0, ErrUnknownMember
	}
	return guild, user, owner, nil
}

func (m moderation) SetServerMute(ctx context.Context, guildID, userID string, mute bool) error {
	guild, user, owner, err := m.target(guildID, userID)
	if err == nil {
		_, err = m.s.ModifyMember(ctx, owner, guild, user, MemberPatch{Mute: &mute})
	}
	return err
}

func (m moderation) SetServerDeaf(ctx context.Context, guildID, userID string, deaf bool) error {
	guild, user, owner, err := m.target(guildID, userID)
	if err == nil {
		_, err = m.s.ModifyMember(ctx, owner, guild, user, MemberPatch{Deaf: &deaf})
	}
	return err
}

func (m moderation) Disconnect(ctx context.Context, guildID, userID string) error {
	guild, user, _, err := m.target(guildID, userID)
	if err != nil {
		return err
	}
	if _, ok := m.s.voice.Get(guild, user); !ok {
		return voicectl.ErrNotConnected
	}
	m.s.disconnectVoice(ctx, guild, user)
	return nil
}

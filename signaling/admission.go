package signaling

import (
	"context"
	"errors"

	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// Admission: every Identify and Resume asks the control plane (Config.
// Admitter) whether the token's session is still one it knows, and starts
// the session with the server mute and deafen it stores, before the client
// can send or receive a packet (the transport key is only handed out
// after). A revoked session is refused with 4014 and cannot resume; live
// ones are ended through the Controller (Disconnect). Without an Admitter,
// or for a guild the control plane does not manage, the token admits and
// the node's own moderation table applies, with the mute and deafen the
// token carries (a control plane in another process of the fleet issued
// it: a moved call keeps its server mute and deafen).

// admit returns the moderation a session of claims starts with, or the
// close error that refuses it, wrapping the control plane's error
// (errors.Is(err, voicectl.ErrRevoked) for a revoked session).
func (s *Server) admit(claims voicetoken.Claims) (voicectl.Moderation, error) {
	if s.isRevoked(claims.SessionID) {
		s.metrics.admissions.WithLabelValues("revoked").Inc()
		return voicectl.Moderation{}, closeFor(voiceproto.CloseDisconnected, "voice session revoked", voicectl.ErrRevoked)
	}
	if a := s.cfg.Admitter; a != nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.AdmitTimeout)
		defer cancel()
		mod, err := a.Admit(ctx, voicectl.Session{GuildID: claims.GuildID, ChannelID: claims.ChannelID,
			UserID: claims.UserID, SessionID: claims.SessionID})
		switch {
		case err == nil:
			return mod, nil
		case errors.Is(err, voicectl.ErrRevoked):
			s.metrics.admissions.WithLabelValues("revoked").Inc()
			return mod, closeFor(voiceproto.CloseDisconnected, "voice session revoked", err)
		case !errors.Is(err, voicectl.ErrNotManaged):
			s.metrics.admissions.WithLabelValues("error").Inc()
			s.log.Warn("voice admission failed", "guild", claims.GuildID, "user", claims.UserID, "err", err)
			return mod, closeFor(voiceproto.CloseServerNotFound, "voice control plane unavailable; try again", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.moderation[roomKey(claims.GuildID, claims.UserID)]
	m.Mute, m.Deaf = m.Mute || claims.Mute, m.Deaf || claims.Deaf // what the control plane stored at issue
	return m, nil
}

// moderate changes the node's own moderation of a user.
func (s *Server) moderate(guild, user string, f func(*voicectl.Moderation)) {
	k := roomKey(guild, user)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.moderation[k]
	f(&m)
	if m == (voicectl.Moderation{}) {
		delete(s.moderation, k)
		return
	}
	s.moderation[k] = m
}

// applyModeration sets a participant's server mute and deafen.
func applyModeration(p Participant, m voicectl.Moderation) {
	p.SetServerMute(m.Mute)
	p.SetServerDeaf(m.Deaf)
}

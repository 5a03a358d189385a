package signaling

import (
	"context"
	"slices"
	"time"

	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/voiceproto"
)

// Revocation: the control plane revokes a voice session it no longer knows
// (voicectl.Revoker) on every node, through its Bus: this node then
// refuses the session at Identify and Resume with 4014 until the
// revocation's end (the expiry of the last token issued for it) and ends
// it with 4014 if it is live here. The node forgets a revocation once it
// ended; at most maxRevoked are held (the soonest to end go first).

// maxRevoked bounds the revocations a node holds.
const maxRevoked = 1 << 18

var _ voicectl.Bus = controller{}

// Revoke implements voicectl.Revoker.
func (c controller) Revoke(_ context.Context, vs voicectl.Session, until time.Time) error {
	s := c.s
	now := s.cfg.Now()
	s.mu.Lock()
	if until.After(now) {
		if len(s.revoked) >= maxRevoked {
			s.pruneRevokedLocked(now)
		}
		if old, ok := s.revoked[vs.SessionID]; !ok || until.After(old) {
			s.revoked[vs.SessionID] = until
		}
	}
	ss := s.sessions[vs.SessionID]
	s.mu.Unlock()
	if ss != nil && ss.guild == vs.GuildID && ss.user == vs.UserID {
		ss.kick(voiceproto.CloseDisconnected, "voice session revoked")
		s.endSession(ss)
	}
	return nil
}

// isRevoked reports whether the session is revoked now.
func (s *Server) isRevoked(session string) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.revoked[session]
	if ok && !until.After(now) {
		delete(s.revoked, session)
		return false
	}
	return ok
}

// pruneRevokedLocked drops ended revocations and, if still full, the
// quarter that ends soonest.
func (s *Server) pruneRevokedLocked(now time.Time) {
	for id, until := range s.revoked {
		if !until.After(now) {
			delete(s.revoked, id)
		}
	}
	if len(s.revoked) < maxRevoked {
		return
	}
	ends := make([]time.Time, 0, len(s.revoked))
	for _, u := range s.revoked {
		ends = append(ends, u)
	}
	cut := quantile(ends, len(ends)/4)
	for id, until := range s.revoked {
		if !until.After(cut) {
			delete(s.revoked, id)
		}
	}
}

// quantile returns the k-th smallest of ts (it reorders ts).
func quantile(ts []time.Time, k int) time.Time {
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts[min(k, len(ts)-1)]
}

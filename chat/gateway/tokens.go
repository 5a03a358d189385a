package gateway

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// nextCheck is when a session whose token expires at exp (zero: never) is
// re-checked: after Config.TokenCheck (spread by up to a quarter, so
// sessions opened together are not all checked together), and no later
// than the expiry.
func (s *Server) nextCheck(now time.Time, exp time.Time) int64 {
	d := s.cfg.TokenCheck
	d += time.Duration(rand.Int64N(int64(d)/4 + 1))
	at := now.Add(d)
	if !exp.IsZero() && exp.Before(at) {
		at = exp
	}
	return at.UnixNano()
}

// CloseSessions ends the sessions user opened with token (nil: with any
// token) and closes their connections with 4004 Authentication failed: the
// token was revoked or has expired. Detached sessions end too, so none
// can be resumed. The service calls it (Dispatcher).
func (s *Server) CloseSessions(user model.Snowflake, token *model.TokenID) {
	s.mu.RLock()
	list := append([]*session(nil), s.byUser[user]...)
	s.mu.RUnlock()
	for _, ss := range list {
		if ss.usesToken(token) {
			s.revokeSession(ss)
		}
	}
}

// revokeSession closes a session's connection with 4004 and ends it.
func (s *Server) revokeSession(ss *session) {
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c != nil {
		c.closeWith(CloseAuthenticationFailed, true)
	}
	s.endSession(ss)
}

// tokenCheck is a session whose token is due for a re-check, and that
// token (the sweeper's pass found it).
type tokenCheck struct {
	ss  *session
	tok model.TokenID
}

// checkTokens re-checks the tokens the sweeper found due: a token that no
// longer authenticates ends its session (4004); a failure of the backend
// is retried at the next check. A session that resumed with another token
// since the sweeper's pass is left alone: its new token has its own check.
func (s *Server) checkTokens(ctx context.Context, now time.Time, due []tokenCheck) {
	for _, d := range due {
		ss, tok := d.ss, d.tok
		cctx, cancel := callCtx(ctx)
		a, err := s.cfg.Backend.CheckToken(cctx, tok)
		cancel()
		switch {
		case errors.Is(err, model.ErrUnauthorized):
			if ss.usesToken(&tok) {
				s.revokeSession(ss)
			}
		case err != nil:
			s.cfg.Logger.Warn("gateway token check", "user", ss.user.ID, "err", err)
			ss.checked(tok, s.nextCheck(now, time.Time{}))
		default:
			ss.checked(tok, s.nextCheck(now, a.Expires))
		}
		if ctx.Err() != nil {
			return
		}
	}
}

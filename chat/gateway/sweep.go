package gateway

import (
	"context"
	"time"
)

// sweep runs once a second until Close: it closes silent and unidentified
// connections, ends sessions whose resume window passed, forgets identify
// windows, and re-checks the tokens that are due (ctx: the lifetime
// context of Start, for the backend calls). One pass over the sessions
// finds both the expired ones and the due tokens.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		now := time.Now()
		silent := (s.cfg.HeartbeatInterval + s.cfg.HeartbeatGrace).Nanoseconds()
		var idle, unidentified []*wsConn
		var expired []*session
		var due []tokenCheck
		s.mu.RLock()
		for c := range s.conns {
			if now.UnixNano()-c.lastRecv.Load() > silent {
				idle = append(idle, c)
			} else if c.session() == nil && now.UnixNano()-c.created > s.cfg.IdentifyTimeout.Nanoseconds() {
				unidentified = append(unidentified, c)
			}
		}
		for _, ss := range s.sessions {
			switch exp, tok, ok := ss.sweepState(now, s.cfg.ResumeWindow); {
			case exp:
				expired = append(expired, ss)
			case ok:
				due = append(due, tokenCheck{ss, tok})
			}
		}
		s.mu.RUnlock()
		for _, c := range idle {
			c.closeWith(CloseSessionTimedOut, true)
		}
		for _, c := range unidentified {
			c.closeWith(CloseNotAuthenticated, false)
		}
		for _, ss := range expired {
			s.endSession(ss)
		}
		s.idMu.Lock()
		for u, w := range s.identifies {
			if now.Sub(w.start) > s.cfg.IdentifyWindow {
				delete(s.identifies, u)
			}
		}
		s.idMu.Unlock()
		s.checkTokens(ctx, now, due)
	}
}

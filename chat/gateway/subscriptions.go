package gateway

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/parleyhq/parley/chat/model"
)

// newSessionID returns a random session id (32 hex digits).
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// register adds a session and subscribes it to guilds.
func (s *Server) register(ss *session, guilds []model.Snowflake) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[ss.id] = ss
	s.byUser[ss.user.ID] = append(s.byUser[ss.user.ID], ss)
	for _, g := range guilds {
		s.subscribeLocked(ss, g)
	}
}

func (s *Server) subscribeLocked(ss *session, g model.Snowflake) {
	cur := s.subs[g]
	next := make([]*session, len(cur), len(cur)+1)
	copy(next, cur)
	s.subs[g] = append(next, ss) // a new slice: Dispatch may be reading cur
	ss.mu.Lock()
	ss.guilds = append(ss.guilds, g)
	ss.mu.Unlock()
}

func (s *Server) unsubscribeLocked(ss *session, g model.Snowflake) {
	if cur, ok := s.subs[g]; ok {
		next := make([]*session, 0, len(cur))
		for _, x := range cur {
			if x != ss {
				next = append(next, x)
			}
		}
		if len(next) == 0 {
			delete(s.subs, g)
		} else {
			s.subs[g] = next // a new slice: Dispatch may be reading cur
		}
	}
	ss.mu.Lock()
	for i, x := range ss.guilds {
		if x == g {
			ss.guilds = append(ss.guilds[:i], ss.guilds[i+1:]...)
			break
		}
	}
	ss.mu.Unlock()
}

// endSession removes a session for good and tells the backend.
func (s *Server) endSession(ss *session) {
	if !ss.end() {
		return
	}
	s.mu.Lock()
	delete(s.sessions, ss.id)
	list := s.byUser[ss.user.ID]
	for i, x := range list {
		if x == ss {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byUser, ss.user.ID)
	} else {
		s.byUser[ss.user.ID] = list
	}
	ss.mu.Lock()
	guilds := append([]model.Snowflake(nil), ss.guilds...)
	ss.mu.Unlock()
	for _, g := range guilds {
		s.unsubscribeLocked(ss, g)
	}
	s.mu.Unlock()
	s.cfg.Backend.SessionEnded(ss.ref())
}

// SessionUser returns the user of a live session.
func (s *Server) SessionUser(id string) (model.Snowflake, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.sessions[id]
	if ss == nil {
		return 0, false
	}
	return ss.user.ID, true
}

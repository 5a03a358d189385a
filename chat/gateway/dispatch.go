package gateway

import (
	"slices"

	"github.com/parleyhq/parley/chat/model"
)

// Dispatch sends ev to every session subscribed to ev.GuildID that has the
// event's intent. It never blocks on a socket.
func (s *Server) Dispatch(ev *model.Event) {
	s.mu.RLock()
	subs := s.subs[ev.GuildID] // never written once stored: safe to read unlocked
	s.mu.RUnlock()
	if len(subs) == 0 {
		return
	}
	n := 0
	wake := make([]*wsConn, 0, min(len(subs), 1024))
	for _, ss := range subs {
		if !ss.wants(ev) {
			continue
		}
		n++
		c, ok := ss.push(ev, true)
		switch {
		case c == nil:
		case !ok:
			s.stats.dropped.Add(1)
			c.closeWith(CloseUnknownError, false)
		case c.mark():
			wake = append(wake, c)
			if len(wake) == cap(wake) {
				s.flusher.pushAll(wake)
				wake = wake[:0]
			}
		}
	}
	s.flusher.pushAll(wake)
	s.stats.dispatches.Add(int64(n))
}

// DispatchUser sends ev to every session of a user (no intent check
// beyond ev.Intent).
func (s *Server) DispatchUser(user model.Snowflake, ev *model.Event) {
	s.mu.RLock()
	list := append([]*session(nil), s.byUser[user]...)
	s.mu.RUnlock()
	for _, ss := range list {
		if ss.wants(ev) {
			ss.enqueue(ev)
			s.stats.dispatches.Add(1)
		}
	}
}

// DispatchSession sends ev to one session; false if it does not exist.
func (s *Server) DispatchSession(id string, ev *model.Event) bool {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return false
	}
	ss.enqueue(ev)
	s.stats.dispatches.Add(1)
	return true
}

// JoinGuild subscribes a user's sessions to a guild and sends them its
// GUILD_CREATE (a member was added). The GUILD_CREATE is encoded
// (Backend.GuildCreate, once per set of intents among the sessions),
// outside the lock, only when the user has a session in the guild's
// shard: a user who just registered has none.
func (s *Server) JoinGuild(user, guild model.Snowflake) {
	s.mu.RLock()
	var intents []model.Intent
	for _, ss := range s.byUser[user] {
		if ss.inShard(guild) && !slices.Contains(intents, ss.intents) {
			intents = append(intents, ss.intents)
		}
	}
	s.mu.RUnlock()
	if len(intents) == 0 {
		return
	}
	events := make(map[model.Intent]*model.Event, len(intents))
	for _, in := range intents {
		gc, err := s.cfg.Backend.GuildCreate(guild, in)
		if err != nil {
			s.cfg.Logger.Warn("gateway guild_create", "guild", guild, "err", err)
			return
		}
		events[in] = &model.Event{Name: "GUILD_CREATE", GuildID: guild, Data: gc}
	}
	s.mu.Lock()
	var list []*session
	for _, ss := range s.byUser[user] {
		if ss.inShard(guild) && events[ss.intents] != nil {
			list = append(list, ss)
			s.subscribeLocked(ss, guild)
		}
	}
	s.mu.Unlock()
	for _, ss := range list {
		ss.enqueue(events[ss.intents])
	}
}

// LeaveGuild unsubscribes a user's sessions and sends GUILD_DELETE.
func (s *Server) LeaveGuild(user, guild model.Snowflake) {
	s.mu.Lock()
	list := append([]*session(nil), s.byUser[user]...)
	for _, ss := range list {
		s.unsubscribeLocked(ss, guild)
	}
	s.mu.Unlock()
	ev, _ := model.NewEvent("GUILD_DELETE", guild, 0, map[string]any{"id": guild, "unavailable": false})
	for _, ss := range list {
		ss.enqueue(ev)
	}
}

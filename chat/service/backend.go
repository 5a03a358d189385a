package service

import (
	"context"
	"encoding/json"

	"github.com/parleyhq/parley/chat/model"
)

// PresenceUpdate handles gateway op 3: PRESENCE_UPDATE to each of the
// user's guilds.
func (s *Service) PresenceUpdate(_ context.Context, ref model.SessionRef, p model.PresenceUpdate) error {
	switch p.Status {
	case "online", "dnd", "idle", "invisible", "offline":
	default:
		p.Status = "online"
	}
	if len(p.Activities) == 0 || string(p.Activities) == "null" {
		p.Activities = json.RawMessage("[]")
	}
	s.mu.Lock()
	s.presence[ref.UserID] = p.Status
	s.mu.Unlock()
	for _, g := range s.GuildsOf(ref.UserID) {
		s.dispatcher().Dispatch(event("PRESENCE_UPDATE", g, model.IntentGuildPresences, map[string]any{
			"user": map[string]any{"id": ref.UserID}, "guild_id": g, "status": p.Status, "activities": p.Activities,
			"client_status": map[string]string{"desktop": p.Status}}))
	}
	return nil
}

// GuildMembersChunk handles gateway op 8.
func (s *Service) GuildMembersChunk(_ context.Context, ref model.SessionRef, req model.RequestGuildMembers) ([]byte, error) {
	s.mu.RLock()
	_, err := s.memberGuildLocked(ref.UserID, req.GuildID)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	d, err := s.guildMembersChunk(req.GuildID, req.Query, req.Limit, req.Nonce)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

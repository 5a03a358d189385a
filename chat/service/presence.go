package service

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/parleyhq/parley/chat/model"
)

// presences records each user's last status (op 3). It is recorded only:
// READY and GUILD_CREATE send no presences yet.
type presences struct {
	mu     sync.Mutex
	status map[model.Snowflake]string // guarded by mu
}

func (p *presences) set(user model.Snowflake, status string) {
	p.mu.Lock()
	if p.status == nil {
		p.status = map[model.Snowflake]string{}
	}
	p.status[user] = status
	p.mu.Unlock()
}

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
	s.presence.set(ref.UserID, p.Status)
	d := s.dispatcher()
	for _, g := range s.GuildsOf(ref.UserID) {
		d.Dispatch(event("PRESENCE_UPDATE", g, model.IntentGuildPresences, map[string]any{
			"user": map[string]any{"id": ref.UserID}, "guild_id": g, "status": p.Status, "activities": p.Activities,
			"client_status": map[string]string{"desktop": p.Status}}))
	}
	return nil
}

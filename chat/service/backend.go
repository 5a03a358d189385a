package service

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/parleyhq/parley/chat/gateway"
	"github.com/parleyhq/parley/chat/model"
)

// GatewayBackend adapts the service to gateway.Backend.
func (s *Service) GatewayBackend() gateway.Backend { return gwBackend{s} }

type gwBackend struct{ *Service }

func (b gwBackend) Authenticate(ctx context.Context, token string) (model.User, error) {
	u, err := b.Service.Authenticate(ctx, token)
	if errors.Is(err, ErrUnauthorized) {
		return u, gateway.ErrAuth
	}
	return u, err
}

// PresenceUpdate handles op 3: PRESENCE_UPDATE to each of the user's guilds.
func (b gwBackend) PresenceUpdate(_ context.Context, ref gateway.SessionRef, d json.RawMessage) error {
	var p struct {
		Status     string          `json:"status"`
		Activities json.RawMessage `json:"activities"`
	}
	if err := json.Unmarshal(d, &p); err != nil {
		return err
	}
	switch p.Status {
	case "online", "dnd", "idle", "invisible", "offline":
	default:
		p.Status = "online"
	}
	if len(p.Activities) == 0 || string(p.Activities) == "null" {
		p.Activities = json.RawMessage("[]")
	}
	b.mu.Lock()
	b.presence[ref.UserID] = p.Status
	b.mu.Unlock()
	for _, g := range b.GuildsOf(ref.UserID) {
		b.dispatcher().Dispatch(event("PRESENCE_UPDATE", g, model.IntentGuildPresences, map[string]any{
			"user": map[string]any{"id": ref.UserID}, "guild_id": g, "status": p.Status, "activities": p.Activities,
			"client_status": map[string]string{"desktop": p.Status}}))
	}
	return nil
}

// GuildMembersChunk handles op 8.
func (b gwBackend) GuildMembersChunk(_ context.Context, ref gateway.SessionRef, req gateway.RequestGuildMembers) ([]byte, error) {
	b.mu.RLock()
	_, err := b.memberGuildLocked(ref.UserID, req.GuildID)
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	d, err := b.guildMembersChunk(req.GuildID, req.Query, req.Limit, req.Nonce)
	if err != nil {
		return nil, err
	}
	return json.Marshal(d)
}

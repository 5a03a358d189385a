package service

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/parleyhq/parley/chat/model"
)

// Limits of a presence's activities (each PRESENCE_UPDATE goes to every
// member of every guild of the user).
const (
	MaxActivities    = 5
	MaxActivityText  = 128 // name, state, details (characters)
	MaxActivityURL   = 512 // bytes
	maxActivityType  = 6
	maxActivitiesRaw = 4096 // the gateway frame limit; anything longer is refused unread
)

// activity is the part of a Discord activity object Parley relays; other
// fields are dropped.
type activity struct {
	Name    string  `json:"name"`
	Type    int     `json:"type"`
	URL     *string `json:"url,omitempty"`
	State   *string `json:"state,omitempty"`
	Details *string `json:"details,omitempty"`
}

// normalizeActivities re-encodes a client's activities with only the
// relayed fields, each within its limit, and the whole no longer than
// maxActivitiesRaw (re-encoding can grow it: "<" becomes "\u003c"), so
// its output is accepted again unchanged; anything else is ErrInvalidForm.
func normalizeActivities(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("[]"), nil
	}
	bad := fieldErr("activities", "BASE_TYPE_BAD_LENGTH", "Must be a list of at most 5 activities with short names.")
	var list []activity
	if len(raw) > maxActivitiesRaw || json.Unmarshal(raw, &list) != nil || len(list) > MaxActivities {
		return nil, bad
	}
	text := func(p *string) bool { return p == nil || utf8.RuneCountInString(*p) <= MaxActivityText }
	for _, a := range list {
		if !text(&a.Name) || !text(a.State) || !text(a.Details) || a.Type < 0 || a.Type > maxActivityType ||
			(a.URL != nil && len(*a.URL) > MaxActivityURL) {
			return nil, bad
		}
	}
	if list == nil {
		list = []activity{}
	}
	out, err := json.Marshal(list)
	if err != nil || len(out) > maxActivitiesRaw {
		return nil, bad // what is relayed stays within the limit it was read under
	}
	return out, nil
}

// PresenceUpdate handles gateway op 3: PRESENCE_UPDATE to each of the
// user's guilds. Activities are bounded and re-encoded
// (normalizeActivities). Others see an invisible user exactly as an
// offline one: status "offline", no activities, no client status. No
// status is kept: READY and GUILD_CREATE send no presences.
func (s *Service) PresenceUpdate(_ context.Context, ref model.SessionRef, p model.PresenceUpdate) error {
	switch p.Status {
	case "online", "dnd", "idle", "invisible", "offline":
	default:
		p.Status = "online"
	}
	acts, err := normalizeActivities(p.Activities)
	if err != nil {
		return err
	}
	shown, clientStatus := p.Status, map[string]string{"desktop": p.Status}
	if p.Status == "invisible" || p.Status == "offline" {
		shown, acts, clientStatus = "offline", json.RawMessage("[]"), map[string]string{}
	}
	d := s.dispatcher()
	for _, g := range s.GuildsOf(ref.UserID) {
		d.Dispatch(event("PRESENCE_UPDATE", g, model.IntentGuildPresences, map[string]any{
			"user": map[string]any{"id": ref.UserID}, "guild_id": g, "status": shown, "activities": acts,
			"client_status": clientStatus}))
	}
	return nil
}

package service

import (
	"context"
	"encoding/json"
	"sync"
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

// shownPresence is a user's presence as others see it: status "offline"
// with no activities for a user without sessions or invisible.
type shownPresence struct {
	status     string
	activities json.RawMessage
}

var offline = shownPresence{status: "offline", activities: json.RawMessage("[]")}

func (p shownPresence) equal(q shownPresence) bool {
	return p.status == q.status && string(p.activities) == string(q.activities)
}

// object is the presence's wire form for guild (0: GUILD_CREATE's
// presences, which name no guild).
func (p shownPresence) object(user, guild model.Snowflake) map[string]any {
	o := map[string]any{"user": map[string]any{"id": user}, "status": p.status, "activities": p.activities,
		"client_status": map[string]string{}}
	if p.status != "offline" {
		o["client_status"] = map[string]string{"desktop": p.status}
	}
	if guild != 0 {
		o["guild_id"] = guild
	}
	return o
}

// userPresence is an online user: its live gateway sessions and the
// status and activities it last set (identify's presence or op 3).
type userPresence struct {
	sessions   int
	status     string // online, idle, dnd or invisible
	activities json.RawMessage
}

func (u *userPresence) shown() shownPresence {
	if u == nil || u.sessions == 0 || u.status == "invisible" {
		return offline
	}
	return shownPresence{status: u.status, activities: u.activities}
}

// onlineSet tracks who is online: users with at least one live gateway
// session (attached or still resumable). mu is held while a transition's
// PRESENCE_UPDATEs are dispatched, so others see a user's online and
// offline in the order they happened; the dispatcher never blocks and
// never calls back into the service, and nothing else of the service is
// locked under mu (presenceOut), so this cannot deadlock.
type onlineSet struct {
	mu    sync.Mutex
	users map[model.Snowflake]*userPresence // guarded by mu
}

func newOnlineSet() *onlineSet { return &onlineSet{users: map[model.Snowflake]*userPresence{}} }

// shown returns the presences of those of ids others see online.
func (o *onlineSet) shown(ids []model.Snowflake) map[model.Snowflake]shownPresence {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[model.Snowflake]shownPresence{}
	for _, id := range ids {
		if p := o.users[id].shown(); !p.equal(offline) {
			out[id] = p
		}
	}
	return out
}

// validStatus maps a client's status to one Parley keeps ("" for none or
// an unknown one).
func validStatus(s string) string {
	switch s {
	case "online", "dnd", "idle", "invisible":
		return s
	case "offline":
		return "invisible" // a live session asking to look offline
	}
	return ""
}

// SessionStarted counts a new gateway session of the user (a gateway
// backend call at identify, with identify's presence). The user's first
// session brings it online: PRESENCE_UPDATE to its guilds, unless it is
// invisible. A later session's presence, when it sets a status, replaces
// the user's.
func (s *Service) SessionStarted(_ context.Context, ref model.SessionRef, p model.PresenceUpdate) {
	status := validStatus(p.Status)
	acts, err := normalizeActivities(p.Activities)
	if err != nil {
		acts = json.RawMessage("[]")
	}
	out := s.presenceOut(ref.UserID)
	o := s.online
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.users[ref.UserID]
	before := u.shown()
	if u == nil {
		u = &userPresence{status: "online", activities: json.RawMessage("[]")}
		o.users[ref.UserID] = u
	}
	u.sessions++
	if status != "" {
		u.status, u.activities = status, acts
	}
	if after := u.shown(); !after.equal(before) {
		out.send(after)
	}
}

// sessionGone counts a session of the user as gone for good; the last
// one takes the user offline (PRESENCE_UPDATE offline to its guilds, if
// others saw it online).
func (s *Service) sessionGone(user model.Snowflake) {
	out := s.presenceOut(user)
	o := s.online
	o.mu.Lock()
	defer o.mu.Unlock()
	u := o.users[user]
	if u == nil {
		return
	}
	before := u.shown()
	if u.sessions--; u.sessions <= 0 {
		delete(o.users, user)
	}
	if after := u.shown(); !after.equal(before) {
		out.send(after)
	}
}

// presenceOut is where a user's PRESENCE_UPDATEs go: the dispatcher and
// the user's guilds, read before onlineSet.mu is taken, so that no other
// part's lock is taken under it.
type presenceOut struct {
	d      Dispatcher
	user   model.Snowflake
	guilds []model.Snowflake
}

func (s *Service) presenceOut(user model.Snowflake) presenceOut {
	return presenceOut{d: s.dispatcher(), user: user, guilds: s.GuildsOf(user)}
}

// send dispatches PRESENCE_UPDATE p to each of the user's guilds.
func (o presenceOut) send(p shownPresence) {
	for _, g := range o.guilds {
		o.d.Dispatch(event("PRESENCE_UPDATE", g, model.IntentGuildPresences, p.object(o.user, g)))
	}
}

// PresenceUpdate handles gateway op 3: the user's status and activities
// change, and PRESENCE_UPDATE goes to each of its guilds. Activities are
// bounded and re-encoded (normalizeActivities). Others see an invisible
// user exactly as an offline one: status "offline", no activities, no
// client status.
func (s *Service) PresenceUpdate(_ context.Context, ref model.SessionRef, p model.PresenceUpdate) error {
	status := validStatus(p.Status)
	if status == "" {
		status = "online"
	}
	acts, err := normalizeActivities(p.Activities)
	if err != nil {
		return err
	}
	out := s.presenceOut(ref.UserID)
	o := s.online
	o.mu.Lock()
	defer o.mu.Unlock()
	shown := shownPresence{status: status, activities: acts}
	if u := o.users[ref.UserID]; u != nil {
		u.status, u.activities = status, acts
		shown = u.shown()
	} else if status == "invisible" {
		shown = offline
	}
	out.send(shown)
	return nil
}

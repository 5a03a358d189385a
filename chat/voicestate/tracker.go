package voicestate

import (
	"errors"
	"sort"
	"sync"

	"github.com/parleyhq/parley/chat/model"
)

// Entry is one user's voice state plus the gateway session that owns it.
type Entry struct {
	State model.VoiceState
	// GatewaySession is the main-gateway session that sent op 4; hand-offs
	// caused by moderation (moves) go to it.
	GatewaySession string
}

// Change describes what an update did.
type Change struct {
	Old, New *Entry // nil when absent before / after
	// Handoff is true when the client needs a new VOICE_SERVER_UPDATE
	// (joined or moved channel).
	Handoff bool
}

// Tracker holds voice states by guild and user. Safe for concurrent use.
type Tracker struct {
	mu sync.Mutex
	// guilds is guarded by mu.
	guilds map[model.Snowflake]map[model.Snowflake]*Entry
}

// New returns an empty tracker.
func New() *Tracker {
	return &Tracker{guilds: map[model.Snowflake]map[model.Snowflake]*Entry{}}
}

// ErrChannelFull means a join would put more users in a voice channel
// than its user_limit allows.
var ErrChannelFull = errors.New("voicestate: voice channel is full")

// JoinRequest is a user joining, moving to or updating their state in a
// voice channel.
type JoinRequest struct {
	Guild, User, Channel model.Snowflake
	SelfMute, SelfDeaf   bool
	// GatewaySession owns the state ("" keeps the current owner).
	GatewaySession string
	// Mute and Deaf are the member's server mute and deafen.
	Mute, Deaf bool
	// Limit is the channel's user_limit (0: none). A user not yet in the
	// channel cannot join it when Limit users are; the check and the join
	// are one step, so concurrent joins cannot overfill it.
	Limit int
}

// Join records r (joining, moving or updating self flags). newSession is
// called only when a hand-off is needed and returns the voice session id
// for the new token.
func (t *Tracker) Join(r JoinRequest, newSession func() string) (Change, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.guilds[r.Guild]
	old := g[r.User]
	moving := old == nil || old.State.ChannelID == nil || *old.State.ChannelID != r.Channel
	if moving && r.Limit > 0 {
		n := 0
		for _, e := range g {
			if e.State.ChannelID != nil && *e.State.ChannelID == r.Channel {
				n++
			}
		}
		if n >= r.Limit {
			return Change{}, ErrChannelFull
		}
	}
	if g == nil {
		g = map[model.Snowflake]*Entry{}
		t.guilds[r.Guild] = g
	}
	var ch Change
	if old != nil {
		c := *old
		ch.Old = &c
	}
	e := &Entry{GatewaySession: r.GatewaySession}
	if old != nil {
		*e = *old
		if r.GatewaySession != "" {
			e.GatewaySession = r.GatewaySession
		}
	}
	c := r.Channel
	e.State.GuildID, e.State.UserID, e.State.ChannelID = r.Guild, r.User, &c
	e.State.SelfMute, e.State.SelfDeaf = r.SelfMute, r.SelfDeaf
	e.State.Mute, e.State.Deaf = r.Mute, r.Deaf
	if moving {
		ch.Handoff = true
		e.State.SessionID = newSession()
	}
	g[r.User] = e
	n := *e
	ch.New = &n
	return ch, nil
}

// Leave removes a user's state; Old is nil if there was none.
func (t *Tracker) Leave(guild, user model.Snowflake) Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.guilds[guild]
	old := g[user]
	if old == nil {
		return Change{}
	}
	delete(g, user)
	if len(g) == 0 {
		delete(t.guilds, guild)
	}
	c := *old
	return Change{Old: &c}
}

// SetServer sets server mute and deafen; ok is false if the user is not in
// voice.
func (t *Tracker) SetServer(guild, user model.Snowflake, mute, deaf bool) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.guilds[guild][user]
	if e == nil {
		return Entry{}, false
	}
	e.State.Mute, e.State.Deaf = mute, deaf
	return *e, true
}

// Get returns a user's entry.
func (t *Tracker) Get(guild, user model.Snowflake) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.guilds[guild][user]
	if e == nil {
		return Entry{}, false
	}
	return *e, true
}

// Guild returns every entry in a guild ordered by user id.
func (t *Tracker) Guild(guild model.Snowflake) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Entry, 0, len(t.guilds[guild]))
	for _, e := range t.guilds[guild] {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].State.UserID < out[j].State.UserID })
	return out
}

// All returns every entry.
func (t *Tracker) All() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Entry
	for _, g := range t.guilds {
		for _, e := range g {
			out = append(out, *e)
		}
	}
	return out
}

// InChannel returns the users in a channel.
func (t *Tracker) InChannel(guild, channel model.Snowflake) []model.Snowflake {
	var out []model.Snowflake
	for _, e := range t.Guild(guild) {
		if e.State.ChannelID != nil && *e.State.ChannelID == channel {
			out = append(out, e.State.UserID)
		}
	}
	return out
}

// BySession returns the entries owned by a gateway session.
func (t *Tracker) BySession(gwSession string) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Entry
	for _, g := range t.guilds {
		for _, e := range g {
			if e.GatewaySession == gwSession {
				out = append(out, *e)
			}
		}
	}
	return out
}

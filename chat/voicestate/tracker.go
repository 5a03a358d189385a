package voicestate

import (
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

// Join records user in channel (joining, moving or updating self flags).
// newSession is called only when a hand-off is needed and returns the voice
// session id for the new token.
func (t *Tracker) Join(guild, user, channel model.Snowflake, selfMute, selfDeaf bool, gwSession string, serverMute, serverDeaf bool, newSession func() string) Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.guilds[guild]
	if g == nil {
		g = map[model.Snowflake]*Entry{}
		t.guilds[guild] = g
	}
	old := g[user]
	var ch Change
	if old != nil {
		c := *old
		ch.Old = &c
	}
	e := &Entry{GatewaySession: gwSession}
	if old != nil {
		*e = *old
		if gwSession != "" {
			e.GatewaySession = gwSession
		}
	}
	c := channel
	e.State.GuildID, e.State.UserID, e.State.ChannelID = guild, user, &c
	e.State.SelfMute, e.State.SelfDeaf = selfMute, selfDeaf
	e.State.Mute, e.State.Deaf = serverMute, serverDeaf
	if old == nil || old.State.ChannelID == nil || *old.State.ChannelID != channel {
		ch.Handoff = true
		e.State.SessionID = newSession()
	}
	g[user] = e
	n := *e
	ch.New = &n
	return ch
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

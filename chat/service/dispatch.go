package service

import (
	"sync"

	"github.com/parleyhq/parley/chat/model"
)

// Dispatcher delivers events to gateway sessions; chat/gateway.Server
// implements it (chat.New connects the two). The service never calls it
// with a lock held.
type Dispatcher interface {
	Dispatch(ev *model.Event)
	DispatchUser(user model.Snowflake, ev *model.Event)
	DispatchSession(id string, ev *model.Event) bool
	// JoinGuild subscribes a new member's sessions to a guild and sends
	// them its GUILD_CREATE, which the gateway asks GuildCreate for only
	// when the user has sessions.
	JoinGuild(user, guild model.Snowflake)
	LeaveGuild(user, guild model.Snowflake)
	// CloseSessions ends the sessions a user opened with token (nil: with
	// any token) and closes their connections with 4004: the token was
	// revoked or expired.
	CloseSessions(user model.Snowflake, token *model.TokenID)
}

// dispatcherSlot holds the dispatcher, set once the gateway exists.
type dispatcherSlot struct {
	mu sync.RWMutex
	d  Dispatcher // guarded by mu; nil until set
}

func (ds *dispatcherSlot) set(d Dispatcher) {
	ds.mu.Lock()
	ds.d = d
	ds.mu.Unlock()
}

// get returns the dispatcher, or one that drops everything before set.
func (ds *dispatcherSlot) get() Dispatcher {
	ds.mu.RLock()
	defer ds.mu.RUnlock()
	if ds.d == nil {
		return nopDispatcher{}
	}
	return ds.d
}

type nopDispatcher struct{}

func (nopDispatcher) Dispatch(*model.Event)                         {}
func (nopDispatcher) DispatchUser(model.Snowflake, *model.Event)    {}
func (nopDispatcher) DispatchSession(string, *model.Event) bool     { return false }
func (nopDispatcher) JoinGuild(model.Snowflake, model.Snowflake)    {}
func (nopDispatcher) LeaveGuild(model.Snowflake, model.Snowflake)   {}
func (nopDispatcher) CloseSessions(model.Snowflake, *model.TokenID) {}

// SetDispatcher connects the gateway.
func (s *Service) SetDispatcher(d Dispatcher) { s.disp.set(d) }

// dispatcher returns the gateway (or a no-op before SetDispatcher).
func (s *Service) dispatcher() Dispatcher { return s.disp.get() }

// event encodes d (our own types, which always encode; a failure yields
// d = null rather than a panic).
func event(name string, guild model.Snowflake, intent model.Intent, d any) *model.Event {
	ev, err := model.NewEvent(name, guild, intent, d)
	if err != nil {
		ev, _ = model.NewEvent(name, guild, intent, nil)
	}
	return ev
}

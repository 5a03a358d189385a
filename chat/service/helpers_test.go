package service

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// newTestService returns a service on a fresh SQLite store with a
// recording dispatcher; mod adjusts the config.
func newTestService(t *testing.T, mod func(*Config)) (*Service, *recorder) {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "chat.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Store: st, PasswordIterations: 1000}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	s.SetDispatcher(rec)
	return s, rec
}

// recorder is a Dispatcher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []*model.Event
	closed []closedSessions
}

// closedSessions is one CloseSessions call.
type closedSessions struct {
	user  model.Snowflake
	token *model.TokenID
}

func (r *recorder) CloseSessions(user model.Snowflake, token *model.TokenID) {
	r.mu.Lock()
	r.closed = append(r.closed, closedSessions{user, token})
	r.mu.Unlock()
}

func (r *recorder) Dispatch(ev *model.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}
func (r *recorder) DispatchUser(_ model.Snowflake, ev *model.Event) { r.Dispatch(ev) }
func (r *recorder) DispatchSession(_ string, ev *model.Event) bool  { r.Dispatch(ev); return true }
func (r *recorder) JoinGuild(model.Snowflake, model.Snowflake)      {}
func (r *recorder) LeaveGuild(model.Snowflake, model.Snowflake)     {}

// named returns the recorded events called name.
func (r *recorder) named(name string) []*model.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*model.Event
	for _, ev := range r.events {
		if ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestIdentifyBackendCalls: identify reports the session with its
// presence (SessionStarted, balanced by SessionEnded), READY carries the
// backend's read_state, and each GUILD_CREATE is encoded for the
// session's intents, also when a guild is joined by sessions with
// different intents.
func TestIdentifyBackendCalls(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, fb := startServer(t, nil)
	identify := func(intents model.Intent, presence any) (*client, string) {
		t.Helper()
		c := dial(t, url)
		c.expect("10")
		p := identifyPayload("good", int(intents))
		if presence != nil {
			p["d"].(map[string]any)["presence"] = presence
		}
		c.send(p)
		ready := c.expect("READY")
		var rd struct {
			SessionID string `json:"session_id"`
			ReadState struct {
				Version int
				Entries []struct {
					ID            string
					LastMessageID string `json:"last_message_id"`
				}
			} `json:"read_state"`
		}
		if err := json.Unmarshal(ready.D, &rd); err != nil || rd.ReadState.Version != 1 || len(rd.ReadState.Entries) != 1 ||
			rd.ReadState.Entries[0].LastMessageID != "1" {
			t.Fatalf("READY read_state: %s (%v)", ready.D, err)
		}
		var gc struct{ Intents model.Intent }
		if err := json.Unmarshal(c.expect("GUILD_CREATE").D, &gc); err != nil || gc.Intents != intents {
			t.Fatalf("GUILD_CREATE for intents %d: %d, %v", intents, gc.Intents, err)
		}
		return c, rd.SessionID
	}
	withPresences := model.IntentGuilds | model.IntentGuildPresences
	c1, id1 := identify(withPresences, map[string]any{"status": "idle", "activities": []any{}, "since": nil, "afk": false})
	c2, id2 := identify(model.IntentGuilds, json.RawMessage(`"not an object"`))
	fb.mu.Lock()
	started := slices.Clone(fb.started)
	fb.mu.Unlock()
	if want := []string{id1 + " idle", id2 + " "}; !slices.Equal(started, want) {
		t.Fatalf("SessionStarted calls %q, want %q", started, want)
	}

	const other model.Snowflake = 3000
	s.JoinGuild(1, other)
	for _, tc := range []struct {
		c       *client
		intents model.Intent
	}{{c1, withPresences}, {c2, model.IntentGuilds}} {
		var gc struct {
			ID      string
			Intents model.Intent
		}
		if err := json.Unmarshal(tc.c.expect("GUILD_CREATE").D, &gc); err != nil || gc.ID != "3000" || gc.Intents != tc.intents {
			t.Fatalf("joined GUILD_CREATE: %+v, %v; want intents %d", gc, err, tc.intents)
		}
	}

	// Both sessions end (revoked): SessionEnded balances SessionStarted.
	s.CloseSessions(1, nil)
	for _, c := range []*client{c1, c2} {
		if code := c.expectClose(); code != int(CloseAuthenticationFailed) {
			t.Fatalf("closed with %d", code)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return len(fb.ended) == 2 && strings.Contains(strings.Join(fb.ended, " "), id1) && strings.Contains(strings.Join(fb.ended, " "), id2)
	}, "SessionEnded not called for both sessions")
}

// holdIdentify blocks identify inside the backend (ReadState, after
// SessionStarted) until release is closed.
type holdIdentify struct {
	fakeBackend
	entered, release chan struct{}
}

func (h *holdIdentify) ReadState(ctx context.Context, user model.Snowflake) (json.RawMessage, error) {
	close(h.entered)
	<-h.release
	return h.fakeBackend.ReadState(ctx, user)
}

// TestIdentifyRacesDrop: a connection dropped while identify is inside
// the backend leaves a detached session that the sweeper ends after the
// resume window (SessionEnded: the user goes offline), never one attached
// to the dead connection, which used to stay online forever.
func TestIdentifyRacesDrop(t *testing.T) {
	testkit.NoLeaks(t)
	hb := &holdIdentify{entered: make(chan struct{}), release: make(chan struct{})}
	s, url, _ := startServer(t, func(c *Config) { c.Backend, c.ResumeWindow = hb, 100*time.Millisecond })
	hb.srv = s
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", 1))
	<-hb.entered
	s.mu.RLock()
	var conn *wsConn
	for x := range s.conns {
		conn = x
	}
	s.mu.RUnlock()
	s.drop(conn, nil) // as a failed write or the sweeper's close would
	close(hb.release)

	var ss *session
	testkit.Eventually(t, 5*time.Second, func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, x := range s.sessions {
			ss = x
		}
		return ss != nil
	}, "identify registered no session")
	testkit.Eventually(t, 5*time.Second, func() bool {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return ss.conn == nil && !ss.detachedAt.IsZero()
	}, "the session stays attached to the dropped connection")
	testkit.Eventually(t, 5*time.Second, func() bool {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		return len(hb.ended) == 1 && hb.ended[0] == ss.id && s.Stats().Sessions == 0
	}, "the session never ended")
}

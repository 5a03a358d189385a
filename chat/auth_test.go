package chat_test

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestLogoutAndRevocation (issue item 8) through REST and the gateway:
// POST /auth/logout revokes the token used (401 after, its gateway session
// closed with 4004), a password change (PATCH /users/@me) revokes every
// token and returns a new one, and a bot's token reset (admin route)
// closes the bot's sessions.
func TestLogoutAndRevocation(t *testing.T) {
	testkit.NoLeaks(t)
	adminKey := testVoiceKey
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, func(c *chat.Config) { c.AdminKey = adminKey })
	t1 := register(t, s, "alice")
	var login struct{ Token string }
	if code, _ := api(t, s, "POST", "/auth/login", "", map[string]string{"login": "alice", "password": "hunter2hunter2"}, &login); code != 200 {
		t.Fatalf("login: %d", code)
	}
	t2 := login.Token
	g1, g2 := dialGateway(t, s, t1, 1), dialGateway(t, s, t2, 1)
	g1.expect("READY")
	g2.expect("READY")

	if code, _ := api(t, s, "POST", "/auth/logout", t1, map[string]any{"provider": nil, "voip_provider": nil}, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	if got := g1.expectClose(); got != 4004 {
		t.Fatalf("logged-out session closed with %d", got)
	}
	if code, _ := api(t, s, "GET", "/users/@me", t1, nil, nil); code != 401 {
		t.Fatalf("logged-out token: %d", code)
	}
	if code, _ := api(t, s, "GET", "/users/@me", t2, nil, nil); code != 200 {
		t.Fatalf("the other token after logout: %d", code)
	}

	var changed struct {
		Token    string
		Username string
	}
	if code, _ := api(t, s, "PATCH", "/users/@me", t2, map[string]string{"password": "wrong-password", "new_password": "correct-horse"}, nil); code != 400 {
		t.Fatalf("password change with a wrong password: %d", code)
	}
	if code, _ := api(t, s, "PATCH", "/users/@me", t2, map[string]string{"password": "hunter2hunter2", "new_password": "correct-horse"}, &changed); code != 200 || changed.Token == "" || changed.Username != "alice" {
		t.Fatalf("password change: %d %+v", code, changed)
	}
	if got := g2.expectClose(); got != 4004 {
		t.Fatalf("session after a password change closed with %d", got)
	}
	if code, _ := api(t, s, "GET", "/users/@me", t2, nil, nil); code != 401 {
		t.Fatalf("old token after a password change: %d", code)
	}
	if code, _ := api(t, s, "GET", "/users/@me", changed.Token, nil, nil); code != 200 {
		t.Fatalf("new token: %d", code)
	}

	_, botTok, err := s.Service.CreateBot(context.Background(), "robot", false)
	if err != nil {
		t.Fatal(err)
	}
	gb := dialGateway(t, s, botTok, 1)
	gb.expect("READY")
	var reset struct{ Token string }
	if code, _ := api(t, s, "POST", "/_parley/bots/reset", "Admin "+hex.EncodeToString(adminKey), map[string]string{"name": "robot"}, &reset); code != 200 || reset.Token == "" {
		t.Fatalf("bot reset: %d", code)
	}
	if got := gb.expectClose(); got != 4004 {
		t.Fatalf("bot session after a reset closed with %d", got)
	}
	if code, _ := api(t, s, "GET", "/users/@me", "Bot "+botTok, nil, nil); code != 401 {
		t.Fatalf("old bot token: %d", code)
	}
	if code, _ := api(t, s, "GET", "/users/@me", "Bot "+reset.Token, nil, nil); code != 200 {
		t.Fatalf("new bot token: %d", code)
	}
	if code, _ := api(t, s, "POST", "/_parley/bots/reset", "Admin 00", map[string]string{"name": "robot"}, nil); code != 403 {
		t.Fatalf("bot reset without the admin key: %d", code)
	}
}

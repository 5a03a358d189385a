package chat_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/rest"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestLoginLimits (issue item 9) with the default limits: failed logins
// for one account are limited from any address (10 per 15 minutes, then
// 429 even with the right password), the attempts of one address are
// limited whatever the names (30 per 5 minutes, registrations included),
// and a failed login (400) counts as an invalid request.
func TestLoginLimits(t *testing.T) {
	testkit.NoLeaks(t)
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, nil, func(c *chat.Config) {
		c.REST.Invalid = rest.Limit{Requests: 40, Window: time.Minute}
	})
	register(t, s, "alice")
	register(t, s, "bobby")
	login := func(from, name, password string) int {
		t.Helper()
		code, _ := apiVia(t, clientFrom(t, from), s, "POST", "/auth/login", "", map[string]string{"login": name, "password": password}, nil)
		return code
	}
	// Ten failures against alice, from ten addresses: each is a 400.
	for i := range 10 {
		if code := login(fmt.Sprintf("127.0.1.%d", i+1), "alice", "wrong-password"); code != 400 {
			t.Fatalf("failed login %d: %d", i, code)
		}
	}
	// Now alice is locked, in any spelling, from anywhere — right password or not.
	for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
		if code := login("127.0.1.99", name, "hunter2hunter2"); code != 429 {
			t.Fatalf("login as %s after 10 failures: %d, want 429", name, code)
		}
	}
	// bobby is not affected.
	if code := login("127.0.1.99", "bobby", "hunter2hunter2"); code != 200 {
		t.Fatalf("another account: %d", code)
	}
	// One address, 30 attempts in 5 minutes, then 429 whatever the name.
	from := "127.0.2.1"
	for i := range 30 {
		if code := login(from, fmt.Sprintf("nobody%d", i), "wrong-password"); code != 400 {
			t.Fatalf("attempt %d from one address: %d", i, code)
		}
	}
	if code := login(from, "bobby", "hunter2hunter2"); code != 429 {
		t.Fatalf("31st attempt from one address: %d, want 429", code)
	}
	if code, _ := apiVia(t, clientFrom(t, from), s, "POST", "/auth/register", "", map[string]string{"username": "carol", "password": "hunter2hunter2"}, nil); code != 429 {
		t.Fatalf("registration after 30 attempts: %d, want 429", code)
	}
	// Those 30 failures and 2 refusals are invalid requests: with a limit
	// of 40, eight more 401s close the address to everything.
	for range 8 {
		apiVia(t, clientFrom(t, from), s, "GET", "/users/@me", "Bot nope", nil, nil)
	}
	if code, hdr := apiVia(t, clientFrom(t, from), s, "GET", "/gateway", "", nil, nil); code != 429 || hdr.Get("X-RateLimit-Global") != "true" {
		t.Fatalf("after 40 invalid requests: %d %v", code, hdr)
	}
}

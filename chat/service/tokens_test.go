package service

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/store"
)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestTokenLifetimes (issue item 8): user tokens expire after
// TokenIdleTTL without use (each use slides the expiry) and TokenMaxAge
// after their login whatever the use; bot tokens do not expire; an
// expired token is revoked and its gateway sessions closed; lifetimes
// survive a restart, and a token stored before lifetimes existed is dated
// from its first use.
func TestTokenLifetimes(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg := func(c *Config) { c.Now, c.TokenIdleTTL, c.TokenMaxAge = clk.Now, 24*time.Hour, 72*time.Hour }
	s, rec := newTestService(t, cfg)
	u, tok, err := s.Register(ctx, "alice", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	_, botTok, err := s.CreateBot(ctx, "robot", false)
	if err != nil {
		t.Fatal(err)
	}
	auth := func(tok string) error { _, err := s.Authenticate(ctx, tok); return err }
	a, err := s.Authenticate(ctx, tok)
	if err != nil || !a.Expires.Equal(clk.Now().Add(24*time.Hour)) || a.Token != tokenID(tok) {
		t.Fatalf("fresh token: %+v, %v", a, err)
	}
	// Used every 23 h it stays valid (sliding), until 72 h after login.
	for range 3 {
		clk.advance(23 * time.Hour)
		if err := auth(tok); err != nil {
			t.Fatalf("token in use expired at %v: %v", clk.Now(), err)
		}
	}
	clk.advance(4 * time.Hour) // 73 h after login
	if err := auth(tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("token past its max age: %v", err)
	}
	if len(rec.closed) != 1 || rec.closed[0].user != u.ID || *rec.closed[0].token != tokenID(tok) {
		t.Fatalf("expiry did not close the token's sessions: %+v", rec.closed)
	}
	// Unused for a day: expired.
	_, tok2, err := s.Login(ctx, "alice", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(24*time.Hour + time.Second)
	if err := auth(tok2); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("idle token: %v", err)
	}
	// Bot tokens do not expire.
	clk.advance(10 * 365 * 24 * time.Hour)
	if err := auth("Bot " + botTok); err != nil {
		t.Fatalf("bot token: %v", err)
	}

	// A restart keeps lifetimes: a used (slid) token lives on, revoked and
	// expired ones stay dead.
	_, tok3, err := s.Login(ctx, "alice", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(20 * time.Hour)
	if err := auth(tok3); err != nil {
		t.Fatal(err)
	}
	s2, err := New(ctx, Config{Store: s.st, Now: clk.Now, TokenIdleTTL: 24 * time.Hour, TokenMaxAge: 72 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(20 * time.Hour) // 40 h after login, 20 h after the last use
	if _, err := s2.Authenticate(ctx, tok3); err != nil {
		t.Fatalf("slid token after a restart: %v", err)
	}
	for _, dead := range []string{tok, tok2} {
		if _, err := s2.Authenticate(ctx, dead); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("expired token after a restart: %v", err)
		}
	}

	// A token from before lifetimes (no issue or expiry time) is dated
	// from its first use, then expires like the others.
	legacy := newToken(u.ID)
	if err := s.st.PutToken(ctx, store.Token{Hash: tokenHash(legacy), UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if err := auth(legacy); err != nil {
		t.Fatalf("legacy token: %v", err)
	}
	if rec, err := s.st.GetToken(ctx, tokenHash(legacy)); err != nil || !rec.ExpiresAt.Equal(clk.Now().Add(24*time.Hour)) {
		t.Fatalf("legacy token not dated: %+v, %v", rec, err)
	}
	clk.advance(25 * time.Hour)
	if err := auth(legacy); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("legacy token after its idle time: %v", err)
	}
}

// TestRevocation (issue item 8): logout revokes one token, logout-all and
// a password change every token of the user, a bot reset the bot's; each
// closes the matching gateway sessions, and survives a restart.
func TestRevocation(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	u, t1, err := s.Register(ctx, "alice", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	_, t2, _ := s.Login(ctx, "alice", "password-1")
	_, t3, _ := s.Login(ctx, "alice", "password-1")
	bob, bobTok, _ := s.Register(ctx, "bobby", "password-2")
	authOK := func(tok string) bool { _, err := s.Authenticate(ctx, tok); return err == nil }
	lastClosed := func() closedSessions {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.closed[len(rec.closed)-1]
	}

	a1, _ := s.Authenticate(ctx, t1)
	if err := s.Logout(ctx, a1); err != nil {
		t.Fatal(err)
	}
	if authOK(t1) || !authOK(t2) || !authOK(t3) {
		t.Fatalf("after logout: t1 %v t2 %v t3 %v", authOK(t1), authOK(t2), authOK(t3))
	}
	if c := lastClosed(); c.user != u.ID || c.token == nil || *c.token != tokenID(t1) {
		t.Fatalf("logout closed %+v", c)
	}

	if _, _, err := s.ChangePassword(ctx, u.ID, "wrong-password", "password-3"); !errors.Is(err, ErrInvalidForm) {
		t.Fatalf("wrong current password: %v", err)
	}
	if !authOK(t2) {
		t.Fatal("a refused password change revoked tokens")
	}
	_, t4, err := s.ChangePassword(ctx, u.ID, "password-1", "password-3")
	if err != nil {
		t.Fatal(err)
	}
	if authOK(t2) || authOK(t3) || !authOK(t4) || !authOK(bobTok) {
		t.Fatalf("after password change: t2 %v t3 %v t4 %v bob %v", authOK(t2), authOK(t3), authOK(t4), authOK(bobTok))
	}
	if c := lastClosed(); c.user != u.ID || c.token != nil {
		t.Fatalf("password change closed %+v", c)
	}
	if _, _, err := s.Login(ctx, "alice", "password-1"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("old password: %v", err)
	}
	if _, _, err := s.Login(ctx, "alice", "password-3"); err != nil {
		t.Fatalf("new password: %v", err)
	}

	b, _ := s.Authenticate(ctx, bobTok)
	if err := s.LogoutAll(ctx, b); err != nil {
		t.Fatal(err)
	}
	if authOK(bobTok) || !authOK(t4) {
		t.Fatal("logout-all")
	}
	if c := lastClosed(); c.user != bob.ID || c.token != nil {
		t.Fatalf("logout-all closed %+v", c)
	}

	bot, oldBot, _ := s.CreateBot(ctx, "robot", false)
	_, newBot, err := s.ResetBotToken(ctx, "robot")
	if err != nil {
		t.Fatal(err)
	}
	if authOK("Bot "+oldBot) || !authOK("Bot "+newBot) {
		t.Fatal("bot reset")
	}
	if c := lastClosed(); c.user != bot.ID || c.token != nil {
		t.Fatalf("bot reset closed %+v", c)
	}
	if _, _, err := s.ResetBotToken(ctx, "alice"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("reset a user's token as a bot's: %v", err)
	}

	// A restart reads the store: revocations hold.
	s2, err := New(ctx, Config{Store: s.st})
	if err != nil {
		t.Fatal(err)
	}
	for tok, ok := range map[string]bool{t1: false, t2: false, t4: true, bobTok: false, "Bot " + oldBot: false, "Bot " + newBot: true} {
		if _, err := s2.Authenticate(ctx, tok); (err == nil) != ok {
			t.Errorf("after restart: %.12s… valid %v, want %v", tok, err == nil, ok)
		}
	}
}

package service

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

func TestPassword(t *testing.T) {
	h := hashPassword("correct horse", 1000)
	if !checkPassword("correct horse", h) || checkPassword("wrong", h) || checkPassword("correct horse", "garbage") {
		t.Fatal("password check")
	}
}

// TestSeedAndRestart: accounts and tokens work on a seeded store, the
// seeded guild's roles apply (see TestPermissions for the rules), and a
// restart loads the same graph without seeding again.
func TestSeedAndRestart(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "c.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(ctx, Config{Store: st, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := s.CreateBot(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	user, tok, err := s.Register(ctx, "user1", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Register(ctx, "user1", "password-1"); !errors.Is(err, ErrInvalidForm) {
		t.Fatalf("duplicate: %v", err)
	}
	if a, err := s.Authenticate(ctx, "Bearer "+tok); err != nil || a.User.ID != user.ID {
		t.Fatalf("Authenticate: %v", err)
	}
	if _, err := s.Authenticate(ctx, "Bot nope"); !errors.Is(err, ErrUnauthorized) || !errors.Is(err, model.ErrUnauthorized) {
		t.Fatalf("bad token: %v", err)
	}
	g := s.DefaultGuild()
	name := "nope"
	if _, err := s.CreateChannel(ctx, user.ID, g, ChannelPatch{Name: &name}); !errors.Is(err, ErrMissingPermissions) {
		t.Fatalf("user created a channel: %v", err)
	}
	if _, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	// A restart loads the same graph (seeded once), accounts included.
	s2, err := New(ctx, Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if s2.DefaultGuild() != g {
		t.Fatal("reseeded")
	}
	cs, err := s2.GuildChannels(user.ID, g)
	if err != nil || len(cs) != 3 {
		t.Fatalf("channels after restart: %d %v", len(cs), err)
	}
	if a, err := s2.Authenticate(ctx, tok); err != nil || a.User.ID != user.ID {
		t.Fatalf("token after restart: %v", err)
	}
	// Voice without a registry is refused, not a panic.
	lounge := cs[1].ID
	if err := s2.VoiceStateUpdate(ctx, model.SessionRef{ID: "gw", UserID: user.ID}, model.VoiceStateRequest{GuildID: g, ChannelID: &lounge}); !errors.Is(err, ErrNoVoice) {
		t.Fatalf("joinVoice without voice: %v", err)
	}
}

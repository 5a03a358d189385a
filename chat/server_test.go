package chat_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestLifecycle: New binds both listeners and Close without Start
// releases them and the store; a Close after Start (startChat's cleanup)
// is covered by the NoLeaks of TestEndToEnd and TestKick.
func TestLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := chat.New(chat.Config{Store: store.Config{SQLitePath: path}, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{s.APIAddr(), s.GatewayAddr()}
	for range 2 {
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range addrs {
		if nc, err := net.Dial("tcp", a); err == nil {
			nc.Close()
			t.Fatalf("%s still listening after Close", a)
		}
	}
	// The store was closed: a second server opens it again.
	s2 := startChat(t, store.Config{SQLitePath: path}, nil, nil)
	if s2.Service.DefaultGuild() == 0 {
		t.Fatal("no default guild")
	}
}

func TestConfigValidate(t *testing.T) {
	sqlite := store.Config{SQLitePath: "x.db"}
	tests := []struct {
		name string
		cfg  chat.Config
		err  error
	}{
		{"sqlite", chat.Config{Store: sqlite}, nil},
		{"no store", chat.Config{}, store.ErrConfig},
		{"voice without key", chat.Config{Store: sqlite, VoiceEndpoint: "127.0.0.1:9"}, chat.ErrConfig},
		{"voice with key", chat.Config{Store: sqlite, VoiceEndpoint: "127.0.0.1:9", VoiceKey: testVoiceKey}, nil},
		{"negative file count", chat.Config{Store: sqlite, MaxFiles: -1}, chat.ErrConfig},
		{"negative file size", chat.Config{Store: sqlite, MaxFileBytes: -1}, chat.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Validate: %v, want %v", err, tc.err)
			}
		})
	}
}

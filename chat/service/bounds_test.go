package service

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

// TestFannedOutFieldsBounded (issue item 6): every client-chosen field a
// dispatch carries to every member is bounded — the message nonce
// (Discord: a string or integer of at most 25 characters), embeds, the
// presence's activities, the op 8 nonce — and what is accepted is relayed
// as sent (or re-encoded with the relayed fields only).
func TestFannedOutFieldsBounded(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	u, _, err := s.Register(ctx, "alice", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := s.GuildChannels(u.ID, s.DefaultGuild())
	if err != nil {
		t.Fatal(err)
	}
	general := cs[0].ID
	nonces := []struct {
		name, nonce string
		ok          bool
	}{
		{"absent", ``, true},
		{"null", `null`, true},
		{"short string", `"abc"`, true},
		{"25 characters", `"` + strings.Repeat("é", 25) + `"`, true},
		{"26 characters", `"` + strings.Repeat("a", 26) + `"`, false},
		{"1 MB", `"` + strings.Repeat("a", 1<<20) + `"`, false},
		{"escaped 26", `"` + strings.Repeat(`\u0061`, 26) + `"`, false},
		{"integer", `1234567890123456789012345`, true},
		{"long integer", `12345678901234567890123456`, false},
		{"float", `1.5`, false},
		{"object", `{"a":1}`, false},
		{"array", `[1]`, false},
		{"bool", `true`, false},
	}
	for _, tc := range nonces {
		t.Run("nonce "+tc.name, func(t *testing.T) {
			m, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Content: "x", Nonce: json.RawMessage(tc.nonce)})
			if tc.ok != (err == nil) {
				t.Fatalf("nonce %.40s: %v", tc.nonce, err)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidForm) {
					t.Fatalf("error %v is not ErrInvalidForm", err)
				}
				return
			}
			if want := tc.nonce; want != "null" && string(m.Nonce) != want {
				t.Fatalf("nonce relayed as %s, sent %s", m.Nonce, want)
			}
		})
	}
	if _, err := s.CreateMessage(ctx, u.ID, general, MessageCreate{Content: "x", Embeds: json.RawMessage(`[{"description":"` + strings.Repeat("a", 7000) + `"}]`)}); !errors.Is(err, ErrInvalidForm) {
		t.Fatalf("7 kB embed: %v", err)
	}

	ref := model.SessionRef{ID: "s", UserID: u.ID}
	acts := []struct {
		name, raw string
		ok        bool
	}{
		{"none", `[]`, true},
		{"one", `[{"name":"chess","type":0,"state":"winning"}]`, true},
		{"extra fields dropped", `[{"name":"x","type":0,"assets":{"large_image":"` + strings.Repeat("a", 3000) + `"}}]`, true},
		{"long name", `[{"name":"` + strings.Repeat("a", 129) + `","type":0}]`, false},
		{"six", `[{"name":"a"},{"name":"a"},{"name":"a"},{"name":"a"},{"name":"a"},{"name":"a"}]`, false},
		{"huge", `[{"name":"a","state":"` + strings.Repeat("a", 1<<20) + `"}]`, false},
		{"not a list", `{"name":"a"}`, false},
	}
	for _, tc := range acts {
		t.Run("activities "+tc.name, func(t *testing.T) {
			before := len(rec.named("PRESENCE_UPDATE"))
			err := s.PresenceUpdate(ctx, ref, model.PresenceUpdate{Status: "online", Activities: json.RawMessage(tc.raw)})
			if tc.ok != (err == nil) {
				t.Fatalf("%v", err)
			}
			evs := rec.named("PRESENCE_UPDATE")
			if !tc.ok {
				if len(evs) != before {
					t.Fatal("a refused presence was dispatched")
				}
				return
			}
			if d := evs[len(evs)-1].Data; len(d) > 1024 {
				t.Fatalf("PRESENCE_UPDATE of %d bytes: %.200s", len(d), d)
			}
		})
	}

	long := strings.Repeat("n", 33)
	for nonce, echoed := range map[string]bool{"n1": true, long: false} {
		b, err := s.GuildMembersChunk(ctx, ref, model.RequestGuildMembers{GuildID: s.DefaultGuild(), Nonce: nonce, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), nonce) != echoed {
			t.Fatalf("op 8 nonce of %d bytes echoed: %v, want %v", len(nonce), !echoed, echoed)
		}
	}
}

package service

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

// TestInvisibleIsOffline (issue item 12): an invisible user is shown to
// others as offline — status, activities and client status alike — so
// nothing tells invisible from offline.
func TestInvisibleIsOffline(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	u, _, err := s.Register(ctx, "ghost", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	ref := model.SessionRef{ID: "s", UserID: u.ID}
	show := func(status string) map[string]any {
		t.Helper()
		err := s.PresenceUpdate(ctx, ref, model.PresenceUpdate{Status: status, Activities: json.RawMessage(`[{"name":"lurking","type":0}]`)})
		if err != nil {
			t.Fatal(err)
		}
		evs := rec.named("PRESENCE_UPDATE")
		var d map[string]any
		if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := show("dnd"); d["status"] != "dnd" {
		t.Fatalf("dnd shown as %v", d["status"])
	}
	invisible, offline := show("invisible"), show("offline")
	if invisible["status"] != "offline" {
		t.Fatalf("invisible shown as %v", invisible["status"])
	}
	a, _ := json.Marshal(invisible)
	b, _ := json.Marshal(offline)
	if string(a) != string(b) || strings.Contains(string(a), "invisible") || strings.Contains(string(a), "lurking") {
		t.Fatalf("invisible %s differs from offline %s", a, b)
	}
}

// FuzzNormalizeActivities: normalising is idempotent, and what it returns
// stays within the limits it enforces.
func FuzzNormalizeActivities(f *testing.F) {
	for _, s := range []string{`[]`, `null`, ``, `[{"name":"x","type":0}]`, `[{"name":"x","type":1,"url":"https://x","state":"s","details":"d","extra":1}]`,
		`[{"name":"x","type":9}]`, `{"name":"a"}`, `[{"name":"\u00e9\u0301"}]`} {
		f.Add([]byte(s))
	}
	// Re-encoding escapes <, > and & six-fold: 2 KB of them came out as
	// 11 KB, which the input limit then refused.
	lt := strings.Repeat("<", MaxActivityText)
	act := `{"name":"` + lt + `","state":"` + lt + `","details":"` + lt + `"}`
	f.Add([]byte("[" + strings.Repeat(act+",", MaxActivities-1) + act + "]"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := normalizeActivities(raw)
		if err != nil {
			return
		}
		again, err := normalizeActivities(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("normalizeActivities(%.200q) = %.200s (%d bytes), which gives %.200s, %v", raw, out, len(out), again, err)
		}
		if len(out) > maxActivitiesRaw {
			t.Fatalf("normalizeActivities(%q): %d bytes", raw, len(out))
		}
	})
}

// TestOnline (issue 12): a user's first gateway session brings it online
// and its last one takes it offline (PRESENCE_UPDATE to its guilds, as
// Discord's); GUILD_CREATE lists the online members' presences for
// sessions with GUILD_PRESENCES only; an invisible user is never shown.
func TestOnline(t *testing.T) {
	ctx := context.Background()
	s, rec := newTestService(t, nil)
	alice, _, err := s.Register(ctx, "alice", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := s.Register(ctx, "bob", "password-bob")
	if err != nil {
		t.Fatal(err)
	}
	guild := s.DefaultGuild()
	type presence struct {
		User         struct{ ID model.Snowflake }
		GuildID      model.Snowflake `json:"guild_id"`
		Status       string
		Activities   []map[string]any
		ClientStatus map[string]string `json:"client_status"`
	}
	updates := func() []presence {
		var out []presence
		for _, ev := range rec.named("PRESENCE_UPDATE") {
			var p presence
			if err := json.Unmarshal(ev.Data, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	listed := func(intents model.Intent) map[model.Snowflake]string {
		t.Helper()
		b, err := s.GuildCreate(guild, intents)
		if err != nil {
			t.Fatal(err)
		}
		var gc struct{ Presences []presence }
		if err := json.Unmarshal(b, &gc); err != nil {
			t.Fatal(err)
		}
		out := map[model.Snowflake]string{}
		for _, p := range gc.Presences {
			out[p.User.ID] = p.Status
		}
		return out
	}
	withPresences := model.IntentGuilds | model.IntentGuildPresences
	steps := []struct {
		name   string
		do     func()
		update string // the status of the PRESENCE_UPDATE that goes out ("": none)
		who    model.Snowflake
		online map[model.Snowflake]string // GUILD_CREATE's presences
	}{
		{"alice connects", func() { s.SessionStarted(ctx, model.SessionRef{ID: "a1", UserID: alice.ID}, model.PresenceUpdate{}) },
			"online", alice.ID, map[model.Snowflake]string{alice.ID: "online"}},
		{"alice's second session", func() { s.SessionStarted(ctx, model.SessionRef{ID: "a2", UserID: alice.ID}, model.PresenceUpdate{}) },
			"", 0, map[model.Snowflake]string{alice.ID: "online"}},
		{"bob connects idle", func() {
			s.SessionStarted(ctx, model.SessionRef{ID: "b1", UserID: bob.ID}, model.PresenceUpdate{Status: "idle", Activities: json.RawMessage(`[{"name":"chess"}]`)})
		}, "idle", bob.ID, map[model.Snowflake]string{alice.ID: "online", bob.ID: "idle"}},
		{"alice's first session ends", func() { s.SessionEnded(model.SessionRef{ID: "a1", UserID: alice.ID}) },
			"", 0, map[model.Snowflake]string{alice.ID: "online", bob.ID: "idle"}},
		{"alice's last session ends", func() { s.SessionEnded(model.SessionRef{ID: "a2", UserID: alice.ID}) },
			"offline", alice.ID, map[model.Snowflake]string{bob.ID: "idle"}},
		{"bob goes invisible", func() {
			_ = s.PresenceUpdate(ctx, model.SessionRef{ID: "b1", UserID: bob.ID}, model.PresenceUpdate{Status: "invisible"})
		},
			"offline", bob.ID, map[model.Snowflake]string{}},
		{"bob's last session ends unseen", func() { s.SessionEnded(model.SessionRef{ID: "b1", UserID: bob.ID}) },
			"", 0, map[model.Snowflake]string{}},
		{"alice connects invisible", func() {
			s.SessionStarted(ctx, model.SessionRef{ID: "a3", UserID: alice.ID}, model.PresenceUpdate{Status: "invisible"})
		}, "", 0, map[model.Snowflake]string{}},
		{"alice shows up", func() {
			_ = s.PresenceUpdate(ctx, model.SessionRef{ID: "a3", UserID: alice.ID}, model.PresenceUpdate{Status: "dnd"})
		},
			"dnd", alice.ID, map[model.Snowflake]string{alice.ID: "dnd"}},
		{"a session ending twice counts once", func() {
			s.SessionEnded(model.SessionRef{ID: "b1", UserID: bob.ID})
		}, "", 0, map[model.Snowflake]string{alice.ID: "dnd"}},
		{"alice leaves the guild", func() {
			if err := s.KickMember(ctx, alice.ID, guild, alice.ID); err != nil {
				t.Fatal(err)
			}
		}, "", 0, map[model.Snowflake]string{}},
		{"alice rejoins, online: the guild learns her presence", func() {
			if err := s.AddMember(ctx, guild, alice.ID); err != nil {
				t.Fatal(err)
			}
		}, "dnd", alice.ID, map[model.Snowflake]string{alice.ID: "dnd"}},
	}
	for _, st := range steps {
		before := len(updates())
		st.do()
		got := updates()[before:]
		switch {
		case st.update == "" && len(got) != 0:
			t.Fatalf("%s: PRESENCE_UPDATE %+v, want none", st.name, got)
		case st.update != "" && (len(got) != 1 || got[0].Status != st.update || got[0].User.ID != st.who || got[0].GuildID != guild):
			t.Fatalf("%s: PRESENCE_UPDATE %+v, want %s of %d", st.name, got, st.update, st.who)
		}
		if on := listed(withPresences); !maps.Equal(on, st.online) {
			t.Fatalf("%s: GUILD_CREATE presences %v, want %v", st.name, on, st.online)
		}
		if on := listed(model.IntentGuilds); len(on) != 0 {
			t.Fatalf("%s: GUILD_CREATE without GUILD_PRESENCES lists %v", st.name, on)
		}
	}
	evs := rec.named("PRESENCE_UPDATE")
	if evs[0].Intent != model.IntentGuildPresences {
		t.Fatalf("PRESENCE_UPDATE intent %d", evs[0].Intent)
	}
}

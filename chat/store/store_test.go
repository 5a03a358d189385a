package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testpg"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/store"
)

// openEngines returns one fresh store per engine: SQLite in a temp dir and
// PostgreSQL in a schema of its own (PARLEY_TEST_POSTGRES_DSN).
func openEngines(t *testing.T) map[string]store.Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]store.Store{}
	sq, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "chat.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	out["sqlite"] = sq
	if dsn := testpg.DSN(t, "store"); dsn != "" {
		pg, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		out["postgres"] = pg
	}
	return out
}

func eachEngine(t *testing.T, f func(t *testing.T, s store.Store)) {
	for name, s := range openEngines(t) {
		t.Run(name, func(t *testing.T) { f(t, s) })
	}
}

func TestUsersAndTokens(t *testing.T) {
	ctx := context.Background()
	eachEngine(t, func(t *testing.T, s store.Store) {
		u := model.NewUser(100, "alice", false)
		if err := s.CreateUser(ctx, store.Account{User: u, PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, store.Account{User: model.NewUser(101, "alice", false)}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		a, err := s.AccountByName(ctx, "alice")
		if err != nil || a.User.ID != 100 || a.PasswordHash != "h" {
			t.Fatalf("AccountByName = %+v, %v", a, err)
		}
		if _, err := s.AccountByName(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		// Usernames are unique in any case and width, and found so.
		for _, variant := range []string{"Alice", "ALICE", "ａｌｉｃｅ"} {
			if err := s.CreateUser(ctx, store.Account{User: model.NewUser(103, variant, false)}); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("CreateUser(%q) beside alice: %v", variant, err)
			}
			if a, err := s.AccountByName(ctx, variant); err != nil || a.User.ID != 100 || a.User.Username != "alice" {
				t.Fatalf("AccountByName(%q) = %+v, %v", variant, a, err)
			}
		}
		if err := s.PutToken(ctx, store.Token{Hash: []byte{1, 2, 3}, UserID: 100}); err != nil {
			t.Fatal(err)
		}
		if tok, err := s.GetToken(ctx, []byte{1, 2, 3}); err != nil || tok.UserID != 100 || !tok.ExpiresAt.IsZero() {
			t.Fatalf("GetToken = %+v, %v", tok, err)
		}
		if _, err := s.GetToken(ctx, []byte{9}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bad token: %v", err)
		}
		bot := model.NewUser(102, "robot", true)
		if err := s.CreateUser(ctx, store.Account{User: bot}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetUser(ctx, 102)
		if err != nil || !got.Bot || got.Username != "robot" {
			t.Fatalf("GetUser = %+v, %v", got, err)
		}
		us, err := s.ListUsers(ctx)
		if err != nil || len(us) != 2 {
			t.Fatalf("ListUsers = %v, %v", us, err)
		}
		if err := s.SetMeta(ctx, "k", "1"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMeta(ctx, "k", "2"); err != nil {
			t.Fatal(err)
		}
		if v, err := s.GetMeta(ctx, "k"); err != nil || v != "2" {
			t.Fatalf("meta = %q, %v", v, err)
		}
	})
}

func TestGuildGraph(t *testing.T) {
	ctx := context.Background()
	eachEngine(t, func(t *testing.T, s store.Store) {
		sys := model.Snowflake(11)
		g := model.Guild{ID: 10, Name: "Parley", OwnerID: 1, SystemChannelID: &sys}
		if err := s.PutGuild(ctx, g); err != nil {
			t.Fatal(err)
		}
		g.Name = "Renamed"
		if err := s.PutGuild(ctx, g); err != nil {
			t.Fatal(err)
		}
		gs, err := s.ListGuilds(ctx)
		if err != nil || len(gs) != 1 || gs[0].Name != "Renamed" || *gs[0].SystemChannelID != 11 {
			t.Fatalf("ListGuilds = %+v, %v", gs, err)
		}
		region := "local"
		topic := "hi"
		chans := []model.Channel{
			{ID: 11, GuildID: 10, Type: model.ChannelText, Name: "general", Topic: &topic},
			{ID: 12, GuildID: 10, Type: model.ChannelVoice, Name: "Lounge", Position: 1, Bitrate: 64000, RTCRegion: &region},
		}
		for _, c := range chans {
			if err := s.PutChannel(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := s.ListChannels(ctx, 10)
		if err != nil || len(cs) != 2 || cs[1].Type != model.ChannelVoice || *cs[1].RTCRegion != "local" || *cs[0].Topic != "hi" || cs[0].RTCRegion != nil {
			t.Fatalf("ListChannels = %+v, %v", cs, err)
		}
		if err := s.DeleteChannel(ctx, 12); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteChannel(ctx, 12); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := s.PutRole(ctx, 10, model.Role{ID: 10, Name: "@everyone", Permissions: "123"}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ListRoles(ctx, 10)
		if err != nil || len(rs) != 1 || rs[0].Permissions != "123" {
			t.Fatalf("ListRoles = %+v, %v", rs, err)
		}
		joined := time.UnixMilli(1_700_000_000_123).UTC()
		m := model.Member{GuildID: 10, UserID: 1, JoinedAt: joined, Roles: []model.Snowflake{10}}
		if err := s.PutMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		m.Mute = true
		if err := s.PutMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		ms, err := s.ListMembers(ctx, 10)
		if err != nil || len(ms) != 1 || !ms[0].Mute || !ms[0].JoinedAt.Equal(joined) || len(ms[0].Roles) != 1 {
			t.Fatalf("ListMembers = %+v, %v", ms, err)
		}
		if err := s.DeleteMember(ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteMember(ctx, 10, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestMessages(t *testing.T) {
	ctx := context.Background()
	gen := model.NewGenerator(1, 1)
	eachEngine(t, func(t *testing.T, s store.Store) {
		channel := model.SnowflakeAt(time.Now().Add(-100 * 24 * time.Hour))
		// 30 messages spread over ~90 days, so they span several buckets.
		var ids []model.Snowflake
		start := time.Now().Add(-90 * 24 * time.Hour)
		for i := range 30 {
			id := model.SnowflakeAt(start.Add(time.Duration(i)*3*24*time.Hour)) | model.Snowflake(i)
			ids = append(ids, id)
			m := model.Message{ID: id, ChannelID: channel, AuthorID: 7, Content: "m" + id.String(), Mentions: []model.User{{ID: 7}}}
			if err := s.CreateMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateMessage(ctx, model.Message{ID: ids[0], ChannelID: channel}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate id: %v", err)
		}
		got, err := s.GetMessage(ctx, store.KeyOf(channel, ids[3]))
		if err != nil || got.Content != "m"+ids[3].String() || got.AuthorID != 7 || len(got.Mentions) != 1 || got.EditedTimestamp != nil {
			t.Fatalf("GetMessage = %+v, %v", got, err)
		}
		check := func(name string, p store.Page, want []model.Snowflake) {
			t.Helper()
			ms, err := s.ListMessages(ctx, channel, p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var gotIDs []model.Snowflake
			for _, m := range ms {
				gotIDs = append(gotIDs, m.ID)
			}
			if len(gotIDs) != len(want) {
				t.Fatalf("%s: got %d messages, want %d", name, len(gotIDs), len(want))
			}
			for i := range want {
				if gotIDs[i] != want[i] {
					t.Fatalf("%s: [%d] = %v, want %v", name, i, gotIDs[i], want[i])
				}
			}
		}
		rev := func(a []model.Snowflake) []model.Snowflake {
			out := make([]model.Snowflake, len(a))
			for i := range a {
				out[len(a)-1-i] = a[i]
			}
			return out
		}
		check("latest 5", store.Page{Limit: 5}, rev(ids[25:]))
		check("default", store.Page{}, rev(ids))
		check("before", store.Page{Before: ids[10], Limit: 3}, rev(ids[7:10]))
		check("after", store.Page{After: ids[10], Limit: 3}, rev(ids[11:14]))
		check("around", store.Page{Around: ids[10], Limit: 4}, rev(ids[8:12]))
		check("before first", store.Page{Before: ids[0]}, nil)
		if _, err := s.ListMessages(ctx, channel, store.Page{Before: 1, After: 1}); !errors.Is(err, store.ErrBadPage) {
			t.Fatalf("before+after: %v", err)
		}
		got.Content, got.EditedAt = "edited", time.Now()
		if err := s.UpdateMessage(ctx, got); err != nil {
			t.Fatal(err)
		}
		got2, err := s.GetMessage(ctx, store.KeyOf(channel, ids[3]))
		if err != nil || got2.Content != "edited" || got2.EditedTimestamp == nil {
			t.Fatalf("after edit = %+v, %v", got2, err)
		}
		if err := s.DeleteMessage(ctx, store.KeyOf(channel, ids[3])); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetMessage(ctx, store.KeyOf(channel, ids[3])); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
		if err := s.DeleteMessage(ctx, store.KeyOf(channel, ids[3])); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if err := s.UpdateMessage(ctx, got); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update deleted: %v", err)
		}
		// Concurrent writers: every acknowledged insert is readable.
		var wg sync.WaitGroup
		ch2 := gen.Next()
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					if err := s.CreateMessage(ctx, model.Message{ID: gen.Next(), ChannelID: ch2, AuthorID: model.Snowflake(w + 1), Content: "x"}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		ms, err := s.ListMessages(ctx, ch2, store.Page{Limit: 100})
		if err != nil || len(ms) != 100 {
			t.Fatalf("concurrent: %d, %v", len(ms), err)
		}
	})
}

func TestBucket(t *testing.T) {
	a := model.SnowflakeAt(time.UnixMilli(model.DiscordEpoch))
	b := model.SnowflakeAt(time.UnixMilli(model.DiscordEpoch + store.BucketWidthMS))
	if store.Bucket(a) != 0 || store.Bucket(b) != 1 || store.Bucket(b-1) != 0 {
		t.Fatalf("buckets %d %d %d", store.Bucket(a), store.Bucket(b), store.Bucket(b-1))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		c    store.Config
		ok   bool
	}{
		{"empty", store.Config{}, false},
		{"sqlite", store.Config{SQLitePath: "x"}, true},
		{"pg", store.Config{PostgresDSN: "postgres://x"}, true},
		{"bad sync", store.Config{SQLitePath: "x", Synchronous: "OFF"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}

func BenchmarkCreateMessage(b *testing.B) {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	gen := model.NewGenerator(0, 0)
	ch := gen.Next()
	b.ResetTimer()
	for b.Loop() {
		if err := s.CreateMessage(context.Background(), model.Message{ID: gen.Next(), ChannelID: ch, AuthorID: 1, Content: "hello"}); err != nil {
			b.Fatal(err)
		}
	}
}

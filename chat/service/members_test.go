package service

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley/chat/model"
)

// TestGuildMembersChunk: op 8 returns, by user id, the first limit members
// whose username starts with the query, compared as username keys (case
// and width folded).
func TestGuildMembersChunk(t *testing.T) {
	s, _ := newTestService(t, nil)
	ctx := context.Background()
	ids := map[string]string{}
	for _, name := range []string{"alice", "Alicia", "bob", "ａｌｉｓｔａｉｒ", "carol"} {
		u, _, err := s.Register(ctx, name, "hunter2hunter2")
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		ids[u.ID.String()] = name
	}
	var caller model.Snowflake
	for id, name := range ids {
		if name == "bob" {
			caller, _ = model.ParseSnowflake(id)
		}
	}
	ref := model.SessionRef{ID: "s", UserID: caller}
	tests := []struct {
		query string
		limit int
		want  []string
	}{
		{"ali", 0, []string{"alice", "Alicia", "ａｌｉｓｔａｉｒ"}},
		{"ALI", 2, []string{"alice", "Alicia"}},
		{"Ａli", 1, []string{"alice"}},
		{"alic", 10, []string{"alice", "Alicia"}},
		{"", 2, []string{"(seeded)", "alice"}},
		{"", 0, []string{"(seeded)", "alice", "Alicia", "bob", "ａｌｉｓｔａｉｒ", "carol"}},
		{"zed", 0, []string{}},
	}
	for _, tc := range tests {
		b, err := s.GuildMembersChunk(ctx, ref, model.RequestGuildMembers{GuildID: s.DefaultGuild(), Query: tc.query, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Members []struct {
				User struct {
					ID string `json:"id"`
				} `json:"user"`
			} `json:"members"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, m := range d.Members {
			name, ok := ids[m.User.ID]
			if !ok {
				name = "(seeded)" // the guild's owner, SystemUsername
			}
			got = append(got, name)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q limit %d: %q, want %q", tc.query, tc.limit, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q limit %d: %q, want %q", tc.query, tc.limit, got, tc.want)
				break
			}
		}
	}
}

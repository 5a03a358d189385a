package service

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestUsernames (issue item 11): usernames are stored in NFKC, refuse
// control, format (zero-width, bidi), blank and other invisible
// characters, and are unique case-insensitively — so neither the seeded
// owner nor an existing user can be impersonated by a variant.
func TestUsernames(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t, nil)
	if _, _, err := s.Register(ctx, "Alice", "password-1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, stored string // stored "" : refused
	}{
		{"ab", "ab"},
		{"Зоя", "Зоя"},
		{"日本語", "日本語"},
		{"عمر", "عمر"},
		{"Mary Ann", "Mary Ann"},
		{"ｆｕｌｌｗｉｄｔｈ", "fullwidth"}, // NFKC
		{"ﬁsh", "fish"},
		{"a", ""},
		{"0123456789012345678901234567890123", ""},
		{" ab", ""},
		{"ab ", ""},
		{"a  b", ""},
		{"a@b", ""},
		{"a#b", ""},
		// Reserved and taken names, in any case or width.
		{"parley", ""},
		{"Parley", ""},
		{"PARLEY", ""},
		{"Ｐａｒｌｅｙ", ""},
		{"everyone", ""},
		{"alice", ""},
		{"ALICE", ""},
		{"ａｌｉｃｅ", ""},
		// Invisible and control characters.
		{"par\u200bley", ""},       // zero-width space
		{"parley\u200d", ""},       // zero-width joiner
		{"\u202eyelrap", ""},       // right-to-left override
		{"par\u2066ley\u2069", ""}, // isolates
		{"parley\u00ad", ""},       // soft hyphen
		{"par\x00ley", ""},         // NUL
		{"par\nley", ""},           // newline
		{"par\x1bley", ""},         // escape
		{"\u3164\u3164", ""},       // Hangul fillers
		{"a\u2800b", ""},           // braille blank
		{"ab\ufe0f", ""},           // variation selector
		{"a\u00a0b", "a b"},        // no-break space: NFKC makes it a space
		{"a\u3000\u3000b", ""},     // ideographic spaces: a double space
		{"\u0301ab", ""},           // leading combining mark
		{"ab\ue000", ""},           // private use
		{"ab\U000E0041", ""},       // tag character
		{"ab\xff", ""},             // invalid UTF-8
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, _, err := s.Register(ctx, tc.name, "password-1")
			if tc.stored == "" {
				if !errors.Is(err, ErrInvalidForm) {
					t.Fatalf("registered %q as %q (err %v)", tc.name, u.Username, err)
				}
				return
			}
			if err != nil || u.Username != tc.stored {
				t.Fatalf("register %q: stored %q, %v; want %q", tc.name, u.Username, err, tc.stored)
			}
		})
	}
	// Bots follow the same rules.
	if _, _, err := s.CreateBot(ctx, "PARLEY", false); !errors.Is(err, ErrInvalidForm) {
		t.Fatalf("bot named PARLEY: %v", err)
	}
	// Login takes any case and width of the name.
	for _, login := range []string{"alice", "ALICE", "ａｌｉｃｅ", "Alice"} {
		if u, _, err := s.Login(ctx, login, "password-1"); err != nil || u.Username != "Alice" {
			t.Errorf("login as %q: %+v, %v", login, u, err)
		}
	}
}

// TestDisplayNames: nicknames and guild and channel names refuse the same
// invisible characters; topics refuse control and format characters but
// newlines.
func TestDisplayNames(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t, nil)
	admin, _, err := s.CreateBot(ctx, "admin", true)
	if err != nil {
		t.Fatal(err)
	}
	g := s.DefaultGuild()
	str := func(v string) *string { return &v }
	for _, nick := range []string{"par\u200bley", "\u202eadmin", "a\x07b", "\u3164"} {
		if _, err := s.ModifyMember(ctx, admin.ID, g, admin.ID, MemberPatch{Nick: &nick}); !errors.Is(err, ErrInvalidForm) {
			t.Errorf("nick %q: %v", nick, err)
		}
	}
	if m, err := s.ModifyMember(ctx, admin.ID, g, admin.ID, MemberPatch{Nick: str("Ｂｏｓｓ")}); err != nil || m.Nick == nil || *m.Nick != "Boss" {
		t.Fatalf("nick: %+v, %v", m, err)
	}
	if _, err := s.ModifyGuild(ctx, admin.ID, g, str("Par\u200bley")); !errors.Is(err, ErrInvalidForm) {
		t.Errorf("guild name with a zero-width space: %v", err)
	}
	if _, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("gen\u202eeral")}); !errors.Is(err, ErrInvalidForm) {
		t.Errorf("channel name with an override: %v", err)
	}
	if _, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("news"), Topic: str("line one\nline \u200ftwo")}); !errors.Is(err, ErrInvalidForm) {
		t.Errorf("topic with a direction mark: %v", err)
	}
	if c, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("news"), Topic: str("line one\nline two")}); err != nil || *c.Topic != "line one\nline two" {
		t.Fatalf("topic with a newline: %+v, %v", c, err)
	}
	// The voice region is fanned out in CHANNEL_UPDATE too: bounded.
	huge := strings.Repeat("r", 100_000)
	if _, err := s.CreateChannel(ctx, admin.ID, g, ChannelPatch{Name: str("vc"), RTCRegion: &huge, RTCRegionSet: true}); !errors.Is(err, ErrInvalidForm) {
		t.Errorf("100 kB rtc_region: %v", err)
	}
}

// FuzzCheckName: a name checkName accepts is accepted again unchanged (its
// stored form is a fixed point), and so is a username checkUsername
// accepts.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"alice", "Ａｌｉｃｅ", " bob", "a  b", "x\u200by", "e\u0301", "\u0301e", "ǅemal", "ﬁsh", "parley", "ｅｖｅｒｙｏｎｅ", "a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := checkName("name", s, 1, 100); err == nil {
			if again, err := checkName("name", n, 1, 100); err != nil || again != n {
				t.Fatalf("checkName(%q) = %q, which gives %q, %v", s, n, again, err)
			}
		}
		if n, err := checkUsername(s); err == nil {
			if again, err := checkUsername(n); err != nil || again != n {
				t.Fatalf("checkUsername(%q) = %q, which gives %q, %v", s, n, again, err)
			}
		}
	})
}

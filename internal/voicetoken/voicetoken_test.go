package voicetoken

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	s, err := NewSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	c, tok := s.IssueFor("u1", "g1", "c1", time.Minute, now)
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	tests := []struct {
		name                  string
		signer                *Signer
		token, user, guild, s string
		now                   time.Time
		want                  error
	}{
		{"ok", s, tok, "u1", "g1", c.SessionID, now, nil},
		{"expired", s, tok, "u1", "g1", c.SessionID, now.Add(time.Minute), ErrExpired},
		{"wrong user", s, tok, "u2", "g1", c.SessionID, now, ErrMismatch},
		{"wrong guild", s, tok, "u1", "g2", c.SessionID, now, ErrMismatch},
		{"wrong session", s, tok, "u1", "g1", "nope", now, ErrMismatch},
		{"other key", other, tok, "u1", "g1", c.SessionID, now, ErrSignature},
		{"tampered", s, tok[:len(tok)-2] + "AA", "u1", "g1", c.SessionID, now, ErrSignature},
		{"garbage", s, "hello", "u1", "g1", c.SessionID, now, ErrMalformed},
		{"empty", s, "", "u1", "g1", c.SessionID, now, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.signer.Verify(tc.token, tc.user, tc.guild, tc.s, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && got.ChannelID != "c1" {
				t.Fatalf("channel = %q", got.ChannelID)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	s, _ := NewSigner(make([]byte, 32))
	_, tok := s.IssueFor("u", "g", "c", time.Hour, time.Unix(0, 0))
	k := NewSigningKey()
	keyed, _ := NewSigner(make([]byte, 32), WithIssuer(func() *SigningKey { return &k }),
		WithKeys(KeySourceFunc(func(kid string, _ time.Time) (ed25519.PublicKey, error) {
			if kid == k.ID {
				return k.Public(), nil
			}
			return nil, ErrUnknownKey
		})))
	_, tok2 := keyed.IssueFor("u", "g", "c", time.Hour, time.Unix(0, 0))
	f.Add(tok)
	f.Add(tok2)
	f.Add("pv1..")
	f.Add("pv2." + k.ID + "..")
	f.Fuzz(func(t *testing.T, token string) {
		_, _ = s.Parse(token, time.Unix(0, 0))
		if c, err := keyed.Parse(token, time.Unix(0, 0)); err == nil && keyed.Issue(c) == "" {
			t.Fatal("no token")
		}
	})
}

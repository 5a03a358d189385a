package voicetoken

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// keyTable is a KeySource over a map: kid -> key, retired ones apart.
type keyTable struct {
	keys    map[string]ed25519.PublicKey
	retired map[string]bool
}

func (k keyTable) VerifyingKey(kid string, _ time.Time) (ed25519.PublicKey, error) {
	if k.retired[kid] {
		return nil, fmt.Errorf("%w: %s", ErrRetiredKey, kid)
	}
	if p, ok := k.keys[kid]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownKey, kid)
}

func TestEd25519(t *testing.T) {
	hmacKey := make([]byte, 32)
	cur, old, stranger := NewSigningKey(), NewSigningKey(), NewSigningKey()
	table := keyTable{keys: map[string]ed25519.PublicKey{cur.ID: cur.Public(), old.ID: old.Public()}, retired: map[string]bool{}}
	// An impostor publishes stranger's id with another key.
	impostor := NewSigningKey()
	table.keys[impostor.ID] = stranger.Public()
	now := time.Unix(1_700_000_000, 0)
	issue := func(k *SigningKey) (Claims, string) {
		s, err := NewSigner(hmacKey, WithIssuer(func() *SigningKey { return k }))
		if err != nil {
			t.Fatal(err)
		}
		return s.IssueFor("u1", "g1", "c1", time.Minute, now)
	}
	c, tok := issue(&cur)
	_, oldTok := issue(&old)
	_, impTok := issue(&impostor)
	_, strangeTok := issue(&stranger)
	_, hmacTok := issue(nil)
	verifier, _ := NewSigner(hmacKey, WithKeys(table))
	noKeys, _ := NewSigner(hmacKey)
	retiring := keyTable{keys: table.keys, retired: map[string]bool{old.ID: true}}
	retired, _ := NewSigner(hmacKey, WithKeys(retiring))
	if !strings.HasPrefix(tok, "pv2."+cur.ID+".") || !strings.HasPrefix(hmacTok, "pv1.") {
		t.Fatalf("token forms: %q, %q", tok[:20], hmacTok[:10])
	}
	tests := []struct {
		name   string
		signer *Signer
		token  string
		now    time.Time
		want   error
	}{
		{"current key", verifier, tok, now, nil},
		{"previous key still published", verifier, oldTok, now, nil},
		{"hmac beside", verifier, hmacTok, now, nil},
		{"expired", verifier, tok, now.Add(time.Minute), ErrExpired},
		{"retired key", retired, oldTok, now, ErrRetiredKey},
		{"unknown key", verifier, strangeTok, now, ErrUnknownKey},
		{"key id of another key", verifier, impTok, now, ErrSignature},
		{"no keys", noKeys, tok, now, ErrUnknownKey},
		{"tampered signature", verifier, tok[:len(tok)-3] + "AAA", now, ErrSignature},
		{"claims swapped", verifier, strings.Replace(tok, "pv2."+cur.ID, "pv2."+old.ID, 1), now, ErrSignature},
		{"short signature", verifier, tok[:len(tok)-4], now, ErrMalformed},
		{"bad kid", verifier, "pv2.x." + tok[len("pv2.")+kidLen+1:], now, ErrMalformed},
		{"no body", verifier, "pv2." + cur.ID + ".", now, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.signer.Verify(tc.token, "u1", "g1", c.SessionID, tc.now)
			if tc.name == "previous key still published" || tc.name == "hmac beside" {
				if err == nil || !errors.Is(err, ErrMismatch) { // another session id
					t.Fatalf("err = %v, want a session mismatch only", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && got.ChannelID != "c1" {
				t.Fatalf("channel = %q", got.ChannelID)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	k := NewSigningKey()
	if !ValidKeyID(k.ID) || k.ID != KeyID(k.Public()) {
		t.Fatalf("key id %q", k.ID)
	}
	for _, bad := range []string{"", "short", "abcdefghijk.", "abcdefghijklm", "abc/efghijkl"} {
		if ValidKeyID(bad) {
			t.Errorf("ValidKeyID(%q)", bad)
		}
	}
}

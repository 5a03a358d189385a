package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/parleyhq/parley/internal/testetcd"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl/bustest"
	"github.com/parleyhq/parley/internal/voicetoken"
)

func tokenKeyJSON(t testing.TB, k TokenKey) []byte {
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTokenKey(t *testing.T) {
	sk, other := voicetoken.NewSigningKey(), voicetoken.NewSigningKey()
	good := TokenKey{ID: sk.ID, Alg: "Ed25519", Public: sk.Public(), Created: 1}
	with := func(f func(*TokenKey)) []byte {
		k := good
		f(&k)
		return tokenKeyJSON(t, k)
	}
	tests := []struct {
		name, kid string
		value     []byte
		ok        bool
	}{
		{"good", sk.ID, tokenKeyJSON(t, good), true},
		{"retiring", sk.ID, with(func(k *TokenKey) { k.Retires = 5 }), true},
		{"bad kid", "x", tokenKeyJSON(t, good), false},
		{"kid of another key", other.ID, with(func(k *TokenKey) { k.ID = other.ID }), false},
		{"record names another kid", sk.ID, with(func(k *TokenKey) { k.ID = other.ID }), false},
		{"other algorithm", sk.ID, with(func(k *TokenKey) { k.Alg = "HS256" }), false},
		{"short public key", sk.ID, with(func(k *TokenKey) { k.Public = k.Public[:31] }), false},
		{"no creation", sk.ID, with(func(k *TokenKey) { k.Created = 0 }), false},
		{"negative retirement", sk.ID, with(func(k *TokenKey) { k.Retires = -1 }), false},
		{"long owner", sk.ID, with(func(k *TokenKey) { k.Owner = strings.Repeat("o", 300) }), false},
		{"not json", sk.ID, []byte("{"), false},
		{"empty", sk.ID, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := decodeTokenKey(tc.kid, tc.value)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrTokenKey) {
				t.Fatalf("err = %v, not ErrTokenKey", err)
			}
			if err == nil && !bytes.Equal(k.Public, sk.Public()) {
				t.Fatal("public key changed")
			}
		})
	}
}

func FuzzDecodeTokenKey(f *testing.F) {
	sk := voicetoken.NewSigningKey()
	f.Add(sk.ID, tokenKeyJSON(f, TokenKey{ID: sk.ID, Alg: "Ed25519", Public: sk.Public(), Created: 1}))
	f.Add(sk.ID, []byte(`{"kid":"`+sk.ID+`","alg":"Ed25519","public":"AAAA","created":1,"retires":2}`))
	f.Add("abc", []byte(`null`))
	f.Fuzz(func(t *testing.T, kid string, value []byte) {
		k, err := decodeTokenKey(kid, value)
		if err != nil {
			if !errors.Is(err, ErrTokenKey) {
				t.Fatalf("error %v is not ErrTokenKey", err)
			}
			return
		}
		if k.ID != kid || voicetoken.KeyID(k.Public) != kid || k.Created <= 0 || k.Retires < 0 {
			t.Fatalf("accepted %+v for %q", k, kid)
		}
	})
}

func startKeyRing(t *testing.T, endpoint, prefix string, ttl time.Duration) *KeyRing {
	t.Helper()
	r, err := NewKeyRing(KeyRingConfig{Endpoints: []string{endpoint}, Prefix: prefix, TokenTTL: ttl, Grace: time.Second, PublishLead: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("key ring close: %v", err)
		}
	})
	return r
}

// TestTokenKeyRotation: two control planes sign with their own keys and a
// voice node's Follower verifies both; one rotation request rotates both,
// the new keys sign and verify at once, the previous ones keep verifying
// until they retire (by the clock, or withdrawn by RetireKey), a token of
// a key never published is refused as unknown, malformed records are
// skipped and counted, and Close marks the current key retiring.
func TestTokenKeyRotation(t *testing.T) {
	testkit.NoLeaks(t)
	etcd := testetcd.Start(t)
	prefix := newPrefix()
	eps := []string{etcd.Endpoint}
	ctx := context.Background()
	ttl := time.Minute
	ringA := startKeyRing(t, etcd.Endpoint, prefix, ttl)
	ringB := startKeyRing(t, etcd.Endpoint, prefix, ttl)
	var logs testkit.SyncBuffer
	f, err := NewFollower(FollowerConfig{Endpoints: eps, Prefix: prefix, Node: bustest.NewRecorder(), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close(ctx) })
	select {
	case <-f.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("follower never listed")
	}
	hmacKey := make([]byte, 32)
	issuer := func(r *KeyRing) *voicetoken.Signer {
		s, err := voicetoken.NewSigner(hmacKey, voicetoken.WithIssuer(r.Current))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	node, _ := voicetoken.NewSigner(hmacKey, voicetoken.WithKeys(f))
	verify := func(tok string, now time.Time) error { _, err := node.Parse(tok, now); return err }
	kidOf := func(tok string) string { return strings.Split(tok, ".")[1] }

	_, tokA1 := issuer(ringA).IssueFor("u", "g", "c", ttl, time.Now())
	_, tokB1 := issuer(ringB).IssueFor("u", "g", "c", ttl, time.Now())
	for _, tok := range []string{tokA1, tokB1} {
		if err := verify(tok, time.Now()); err != nil {
			t.Fatalf("a token of a key published before the node listed: %v", err)
		}
	}

	// One request rotates both control planes.
	a1, b1 := ringA.Current().ID, ringB.Current().ID
	if err := RequestRotation(ctx, eps, prefix); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return ringA.Current().ID != a1 && ringB.Current().ID != b1 }, "both control planes rotated")
	_, tokA2 := issuer(ringA).IssueFor("u", "g", "c", ttl, time.Now())
	if kidOf(tokA2) == a1 || verify(tokA2, time.Now()) != nil {
		t.Fatalf("new token kid %s (previous %s): %v", kidOf(tokA2), a1, verify(tokA2, time.Now()))
	}
	if err := verify(tokA1, time.Now()); err != nil {
		t.Fatalf("the previous key's token before its retirement: %v", err)
	}
	var retires int64
	testkit.Eventually(t, 10*time.Second, func() bool {
		keys, err := TokenKeys(ctx, eps, prefix)
		for _, k := range keys {
			if k.ID == a1 {
				retires = k.Retires
			}
		}
		return err == nil && len(keys) == 4 && keys[0].Current() && keys[1].Current() && retires != 0
	}, "two current keys, two retiring")
	testkit.Eventually(t, 10*time.Second, func() bool { return verify(tokA1, time.UnixMilli(retires)) != nil }, "the node has the retirement")
	if err := verify(tokA1, time.UnixMilli(retires)); !errors.Is(err, voicetoken.ErrRetiredKey) {
		t.Fatalf("at its retirement: %v, want ErrRetiredKey", err)
	}

	// SIGHUP's path rotates one control plane.
	a2 := ringA.Current().ID
	ringA.Rotate()
	testkit.Eventually(t, 10*time.Second, func() bool { return ringA.Current().ID != a2 }, "Rotate rotated")

	// Withdrawn early (a leaked key): refused as retired at once.
	if err := RetireKey(ctx, eps, prefix, ringB.Current().ID); !errors.Is(err, ErrKeyCurrent) {
		t.Fatalf("retiring a current key: %v", err)
	}
	if err := RetireKey(ctx, eps, prefix, b1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return errors.Is(verify(tokB1, time.Now()), voicetoken.ErrRetiredKey) }, "a withdrawn key's token refused")
	if err := RetireKey(ctx, eps, prefix, b1); !errors.Is(err, ErrNoKey) {
		t.Fatalf("retiring it again: %v", err)
	}

	// A key never published.
	stranger := voicetoken.NewSigningKey()
	s, _ := voicetoken.NewSigner(hmacKey, voicetoken.WithIssuer(func() *voicetoken.SigningKey { return &stranger }))
	_, tokX := s.IssueFor("u", "g", "c", ttl, time.Now())
	if err := verify(tokX, time.Now()); !errors.Is(err, voicetoken.ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if got := testutilCount(f.metrics.keysRefused.WithLabelValues("unknown")); got != 1 {
		t.Fatalf("refused unknown = %v", got)
	}
	if got := testutilCount(f.metrics.keysRefused.WithLabelValues("retired")); got < 2 {
		t.Fatalf("refused retired = %v", got)
	}

	// Malformed records: skipped, logged, counted; the others still verify.
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	forged := TokenKey{ID: stranger.ID, Alg: "Ed25519", Public: voicetoken.NewSigningKey().Public(), Created: 1}
	for k, v := range map[string]string{"x": "{}", stranger.ID: string(tokenKeyJSON(t, forged)), strings.Repeat("A", 12): "not json"} {
		if _, err := cli.Put(ctx, prefix+"keys/"+k, v); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return testutilCount(f.metrics.badKeys) == 3 }, "three bad records counted")
	if !strings.Contains(logs.String(), "voice-token key record skipped") {
		t.Fatalf("not logged:\n%s", logs.String())
	}
	if err := verify(tokX, time.Now()); !errors.Is(err, voicetoken.ErrUnknownKey) {
		t.Fatalf("a forged record admitted the stranger's token: %v", err)
	}
	_, tokB2 := issuer(ringB).IssueFor("u", "g", "c", ttl, time.Now())
	if err := verify(tokB2, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Close retires the current key: its tokens keep verifying until then.
	b2 := ringB.Current().ID
	if err := ringB.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		keys, _ := TokenKeys(ctx, eps, prefix)
		for _, k := range keys {
			if k.ID == b2 {
				return !k.Current()
			}
		}
		return false
	}, "a closed control plane's key retiring")
	if err := verify(tokB2, time.Now()); err != nil {
		t.Fatalf("after its control plane closed: %v", err)
	}
}

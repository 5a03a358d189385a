package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceclient"
)

// TestFleetKeyRotation: chat signs voice tokens with its own Ed25519 key
// published in etcd, and both voice nodes (other processes) verify them.
// `parley fleet rotate-key` mid-call: the call goes on (both members keep
// hearing each other, no connection closes); a member who joins after it
// gets a token with the new key id, admitted on both nodes; the old token
// is still admitted until `parley fleet retire-key` withdraws its key,
// then refused with 4004 and counted; a token of a key never published is
// refused with 4004 too.
func TestFleetKeyRotation(t *testing.T) {
	h := startPair(t)

	_, join := h.startMovers()
	var movers []*mover
	kidOf := func(tok string) string {
		parts := strings.Split(tok, ".")
		if len(parts) != 4 || parts[0] != "pv2" {
			t.Fatalf("token %.20s... is not an Ed25519 fleet token", tok)
		}
		return parts[1]
	}
	eps, _ := fleet.ParseURL(h.registry)
	keys := func() []fleet.TokenKey {
		kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer kcancel()
		ks, err := fleet.TokenKeys(kctx, eps, "")
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	alice := join("alice")
	bob := join("bob")
	movers = append(movers, alice, bob)
	pair := []string{alice.user, bob.user}
	testkit.Eventually(t, 30*time.Second, func() bool { return alice.heardAll(pair, time.Time{}) && bob.heardAll(pair, time.Time{}) },
		"alice and bob hear each other")
	oldToken := *alice.token.Load()
	oldKid := kidOf(oldToken)
	if ks := keys(); len(ks) != 1 || ks[0].ID != oldKid || !ks[0].Current() {
		t.Fatalf("published keys %+v, want chat's one current key %s", ks, oldKid)
	}
	on := h.nodeCarrying(2, "")
	other := map[string]string{"node-a": "node-b", "node-b": "node-a"}[on]
	endpoints := map[string]string{}
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			endpoints[n.ID] = n.Endpoint
		}
		return len(endpoints) == 2
	}, "both nodes listed")
	// dial identifies with m's session and token on endpoint: nil when
	// admitted (the connection is closed at once), else the close error.
	dial := func(m *mover, token, endpoint string) error {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		vc, err := voiceclient.Dial(dctx, voiceclient.Config{Endpoint: endpoint, Token: token, SessionID: m.session,
			UserID: m.user, GuildID: m.guild, ChannelID: m.channel, RootCAs: h.pool, DisableDAVE: true})
		if err == nil {
			_ = vc.Close()
		}
		return err
	}
	refused4004 := func(err error) bool {
		var ce *voiceclient.CloseError
		return errors.As(err, &ce) && ce.Code == 4004
	}

	// Rotation mid-call.
	rotated := time.Now()
	if out, err := parleyCmd(context.Background(), "fleet", "rotate-key", "--registry", h.registry).CombinedOutput(); err != nil {
		t.Fatalf("fleet rotate-key: %v\n%s", err, out)
	}
	var newKid string
	testkit.Eventually(t, 10*time.Second, func() bool {
		ks := keys()
		if len(ks) != 2 || !ks[0].Current() || ks[1].ID != oldKid || ks[1].Current() {
			return false
		}
		newKid = ks[0].ID
		return true
	}, "a new current key and the previous one retiring")
	t.Logf("rotation: key %s replaced %s %v after rotate-key", newKid, oldKid, time.Since(rotated).Round(time.Millisecond))
	out, err := parleyCmd(context.Background(), "fleet", "keys", "--registry", h.registry).CombinedOutput()
	if err != nil || !strings.Contains(string(out), newKid+"  current") || !strings.Contains(string(out), oldKid+"  retiring") {
		t.Fatalf("fleet keys: %v\n%s", err, out)
	}

	// A new member: the new key, admitted on the node carrying the call
	// (she is heard there) and on the other.
	carol := join("carol")
	movers = append(movers, carol)
	if kid := kidOf(*carol.token.Load()); kid != newKid {
		t.Fatalf("carol's token has key %s, want the new %s", kid, newKid)
	}
	all := []string{alice.user, bob.user, carol.user}
	testkit.Eventually(t, 20*time.Second, func() bool {
		return alice.heardAll(all, rotated) && bob.heardAll(all, rotated) && carol.heardAll(all, rotated)
	}, "everyone hears everyone after the rotation, carol too")
	for _, m := range []*mover{alice, bob} {
		select {
		case <-m.conn.Load().Done():
			t.Fatalf("a call dropped during the rotation: %v", m.conn.Load().Err())
		default:
		}
		if m.moves.Load() != 0 {
			t.Fatal("a member was moved")
		}
	}
	if err := dial(carol, *carol.token.Load(), endpoints[other]); err != nil {
		t.Fatalf("carol's new token on %s: %v", other, err)
	}
	// The old token: still admitted while its key is retiring.
	if err := dial(alice, oldToken, endpoints[other]); err != nil {
		t.Fatalf("alice's token of the previous key on %s before it retired: %v", other, err)
	}

	// Withdrawn: refused with 4004 on the other node, and counted.
	if out, err := parleyCmd(context.Background(), "fleet", "retire-key", "--registry", h.registry, newKid).CombinedOutput(); err == nil {
		t.Fatalf("retire-key of the current key succeeded:\n%s", out)
	}
	if out, err := parleyCmd(context.Background(), "fleet", "retire-key", "--registry", h.registry, oldKid).CombinedOutput(); err != nil {
		t.Fatalf("fleet retire-key: %v\n%s", err, out)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return refused4004(dial(alice, oldToken, endpoints[other])) },
		"alice's token of the retired key refused with 4004 on %s", other)
	// A key nobody published: refused with 4004 on the node carrying the
	// call, whose call goes on.
	stranger := voicetoken.NewSigningKey()
	forger, _ := voicetoken.NewSigner(h.key, voicetoken.WithIssuer(func() *voicetoken.SigningKey { return &stranger }))
	forged := forger.Issue(voicetoken.Claims{UserID: alice.user, GuildID: alice.guild, ChannelID: alice.channel, SessionID: alice.session,
		Expires: time.Now().Add(time.Hour).Unix()})
	if err := dial(alice, forged, endpoints[on]); !refused4004(err) {
		t.Fatalf("a token of an unknown key on %s: %v, want close 4004", on, err)
	}
	metric := func(node, reason string) bool {
		resp, err := http.Get("http://" + h.metrics[node] + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `parley_fleet_voice_tokens_refused_total{reason="`+reason+`"}`)
	}
	if !metric(other, "retired") || !metric(on, "unknown") {
		t.Fatal("refused tokens not counted in parley_fleet_voice_tokens_refused_total")
	}
	after := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool { return alice.heardAll(all, after) && bob.heardAll(all, after) },
		"the call goes on after the refusals")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
)

// TestFleetModeration: the voice hardening checks against a two-node
// fleet, where chat runs in another process than either voice node and
// reaches them through etcd (fleet.Bus, fleet.Follower). Four Go clients
// talk in Lounge on one node; a server mute stops the muted member's audio
// at the node (the delay is measured); a kick ends the kicked member's
// live session with 4014 and her credentials are refused on both nodes,
// the one that never saw her too; a member who left voice cannot come back
// with his old token on either node; the call is drained to the other
// node, where the muted member stays muted (her token says so) and an
// unmute given after the move reaches her live session there.
func TestFleetModeration(t *testing.T) {
	h := startPair(t)

	_, join := h.startMovers()
	var movers []*mover
	bot := h.createBot("moderator", true)
	mod := "Bot " + bot.Token
	var speakers []string
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		m := join(name)
		movers = append(movers, m)
		speakers = append(speakers, m.user)
	}
	alice, bob, carol, dave := movers[0], movers[1], movers[2], movers[3]
	testkit.Eventually(t, 30*time.Second, func() bool {
		for _, m := range movers {
			if !m.heardAll(speakers, time.Time{}) {
				return false
			}
		}
		return true
	}, "every listener hears every speaker")
	on := h.nodeCarrying(4, "")
	other := map[string]string{"node-a": "node-b", "node-b": "node-a"}[on]
	endpoints := map[string]string{}
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			endpoints[n.ID] = n.Endpoint
		}
		return len(endpoints) == 2
	}, "both nodes listed")
	lastFrom := func(listener *mover, speaker string) time.Time {
		listener.mu.Lock()
		defer listener.mu.Unlock()
		return listener.last[speaker]
	}
	member := func(m *mover, body map[string]any) {
		t.Helper()
		if code := chatCall(t, h.api, "PATCH", "/guilds/"+m.guild+"/members/"+m.user, mod, body, nil); code != 200 {
			t.Fatalf("PATCH member %v: %d", body, code)
		}
	}

	// Server mute: the node serving the call stops forwarding alice.
	muted := time.Now()
	member(alice, map[string]any{"mute": true})
	testkit.Eventually(t, 10*time.Second, func() bool {
		return lastFrom(bob, dave.user).Sub(lastFrom(bob, alice.user)) > 600*time.Millisecond
	}, "bob keeps hearing dave but no longer alice")
	took := lastFrom(bob, alice.user).Sub(muted)
	t.Logf("server mute through etcd: bob heard alice's last frame %v after the PATCH", took.Round(time.Millisecond))
	if took > 5*250*time.Millisecond {
		t.Errorf("mute took %v to reach the node (target 250 ms, bound 5x)", took)
	}

	// refused dials user's old credentials on the node at endpoint and
	// expects close 4014.
	refused := func(m *mover, token, endpoint, what string) {
		t.Helper()
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		vc, err := voiceclient.Dial(dctx, voiceclient.Config{Endpoint: endpoint, Token: token, SessionID: m.session,
			UserID: m.user, GuildID: m.guild, ChannelID: m.channel, RootCAs: h.pool, DisableDAVE: true})
		var ce *voiceclient.CloseError
		if err == nil {
			_ = vc.Close()
		}
		if !errors.As(err, &ce) || ce.Code != 4014 {
			t.Fatalf("%s on %s: %v, want close 4014", what, endpoint, err)
		}
	}

	// Kick: carol's live session ends with 4014 on its node; her old
	// credentials are refused there and on the other node.
	carolToken := *carol.token.Load()
	kicked := time.Now()
	if code := chatCall(t, h.api, "DELETE", "/guilds/"+carol.guild+"/members/"+carol.user, mod, nil, nil); code != 204 {
		t.Fatalf("kick: %d", code)
	}
	select {
	case <-carol.conn.Load().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the kicked member's voice session is still up")
	}
	t.Logf("kick through etcd: carol's session closed %v after the DELETE", time.Since(kicked).Round(time.Millisecond))
	var ce *voiceclient.CloseError
	if err := carol.conn.Load().Err(); !errors.As(err, &ce) || ce.Code != 4014 {
		t.Fatalf("kicked session ended with %v, want close 4014", err)
	}
	refused(carol, carolToken, endpoints[on], "carol's credentials after the kick")
	refused(carol, carolToken, endpoints[other], "carol's credentials after the kick")

	// Leave: dave leaves voice; his old token is void on both nodes.
	daveToken := *dave.token.Load()
	if err := dave.gw.WriteJSON(map[string]any{"op": 4, "d": map[string]any{"guild_id": dave.guild, "channel_id": nil}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-dave.left:
	case <-time.After(10 * time.Second):
		t.Fatal("dave did not leave voice")
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		vc, err := voiceclient.Dial(dctx, voiceclient.Config{Endpoint: endpoints[other], Token: daveToken, SessionID: dave.session,
			UserID: dave.user, GuildID: dave.guild, ChannelID: dave.channel, RootCAs: h.pool, DisableDAVE: true})
		if err == nil {
			_ = vc.Close()
		}
		return errors.As(err, &ce) && ce.Code == 4014
	}, "dave's old token refused on %s", other)
	refused(dave, daveToken, endpoints[on], "dave's token after leaving")
	_ = dave.conn.Load().Close()

	// Drain: alice and bob move to the other node; alice stays muted
	// there (her new token carries it, the node's stored state agrees).
	exited := make(chan error, 1)
	go func() { exited <- h.nodes[on].Wait() }()
	if out, err := parleyCmd(context.Background(), "voice", "drain", "--registry", h.registry, on).CombinedOutput(); err != nil {
		t.Fatalf("voice drain: %v\n%s", err, out)
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return alice.moves.Load() == 1 && bob.moves.Load() == 1 }, "alice and bob moved")
	h.waitNodes(func(ns []fleet.NodeStatus) bool {
		for _, n := range ns {
			if n.ID == other && n.Load.Participants == 2 {
				return true
			}
		}
		return false
	}, "alice and bob on %s", other)
	moved := time.Now()
	testkit.Eventually(t, 10*time.Second, func() bool { return alice.heardAll([]string{bob.user}, moved) }, "alice hears bob on %s", other)
	if last := lastFrom(bob, alice.user); last.After(muted.Add(5 * 250 * time.Millisecond)) {
		t.Fatalf("bob heard the server-muted alice at %v, after the move", last)
	}

	// Unmute after the move: it reaches her live session on the new node.
	unmuted := time.Now()
	member(alice, map[string]any{"mute": false})
	testkit.Eventually(t, 10*time.Second, func() bool { return lastFrom(bob, alice.user).After(unmuted) }, "bob hears alice again after the unmute")
	t.Logf("unmute through etcd on the node the call moved to: bob heard alice %v after the PATCH", lastFrom(bob, alice.user).Sub(unmuted).Round(time.Millisecond))
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal(fmt.Sprintf("drained node %s did not exit", on))
	}
}

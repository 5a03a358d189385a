package service

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/registry"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// TestMoveOffLeavingNode: two members in Lounge on node a; a drains, and
// each gets VOICE_SERVER_UPDATE for node b with a token for its own,
// unchanged voice session; a joiner meanwhile goes to b too. Then b is
// lost and the three are handed to c. Close stops the mover.
func TestMoveOffLeavingNode(t *testing.T) {
	testkit.NoLeaks(t)
	signer, err := voicetoken.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewEmbedded(registry.Node{ID: "a", Region: "local", Endpoint: "a.example:443"})
	s, rec := newTestService(t, func(c *Config) { c.Registry, c.VoiceSigner = reg, signer })
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(ctx) })
	g := s.DefaultGuild()
	var lounge model.Snowflake
	users := map[model.Snowflake]string{} // user -> voice session id
	join := func(name string) {
		u, _, err := s.Register(ctx, name, "hunter2hunter2")
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := s.GuildChannels(u.ID, g)
		for _, c := range cs {
			if c.Type == model.ChannelVoice {
				lounge = c.ID
			}
		}
		if err := s.VoiceStateUpdate(ctx, model.SessionRef{ID: "gw-" + name, UserID: u.ID}, model.VoiceStateRequest{GuildID: g, ChannelID: &lounge}); err != nil {
			t.Fatal(err)
		}
		e, _ := s.voice.Get(g, u.ID)
		users[u.ID] = e.State.SessionID
	}
	join("ann")
	join("bob")
	// handedTo waits for n hand-offs to endpoint and checks each token.
	handedTo := func(endpoint string, n int) {
		t.Helper()
		testkit.Eventually(t, 5*time.Second, func() bool {
			got := 0
			for _, ev := range rec.named("VOICE_SERVER_UPDATE") {
				var d struct{ Token, Endpoint string }
				_ = json.Unmarshal(ev.Data, &d)
				if d.Endpoint != endpoint {
					continue
				}
				c, err := signer.Parse(d.Token, time.Now())
				user, _ := model.ParseSnowflake(c.UserID)
				if err != nil || users[user] != c.SessionID || c.ChannelID != lounge.String() {
					t.Fatalf("hand-off token %+v (%v): want the member's own voice session in Lounge", c, err)
				}
				got++
			}
			return got == n
		}, "%d hand-offs to %s", n, endpoint)
	}
	handedTo("a.example:443", 2)

	reg.Upsert(registry.Node{ID: "b", Region: "local", Endpoint: "b.example:443"}, nil)
	reg.SetState("a", voicectl.NodeDraining)
	handedTo("b.example:443", 2)
	join("cat") // placed on a, which drains: goes to b
	handedTo("b.example:443", 3)

	reg.Upsert(registry.Node{ID: "c", Region: "local", Endpoint: "c.example:443"}, nil)
	reg.Remove("b")
	handedTo("c.example:443", 3)
	if ch, m, _ := s.VoiceMoves(); ch != 2 || m != 5 {
		t.Fatalf("VoiceMoves = %d channels, %d members; want 2, 5", ch, m)
	}
	for u, sess := range users {
		if e, ok := s.voice.Get(g, u); !ok || e.State.SessionID != sess {
			t.Fatalf("voice state of %v changed by the move: %+v", u, e)
		}
	}
}

// presenceRegistry is the embedded registry with a presence list.
type presenceRegistry struct {
	*registry.Embedded
	mu      sync.Mutex
	present map[string]bool // node/channel/user
}

func (p *presenceRegistry) Connected(node, channel, user string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.present[node+"/"+channel+"/"+user]
}

// TestMovedMemberNeverArrives: after a move, a member its new node lists
// stays; one it never lists is removed from voice (VOICE_STATE_UPDATE
// with no channel) after VoiceMoveTimeout and a confirming look.
func TestMovedMemberNeverArrives(t *testing.T) {
	testkit.NoLeaks(t)
	signer, err := voicetoken.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	reg := &presenceRegistry{Embedded: registry.NewEmbedded(registry.Node{ID: "a", Region: "local", Endpoint: "a.example:443"}), present: map[string]bool{}}
	s, rec := newTestService(t, func(c *Config) { c.Registry, c.VoiceSigner, c.VoiceMoveTimeout = reg, signer, 100*time.Millisecond })
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(ctx) })
	g := s.DefaultGuild()
	var lounge model.Snowflake
	var users []model.Snowflake
	for _, name := range []string{"arrives", "vanishes"} {
		u, _, err := s.Register(ctx, name, "hunter2hunter2")
		if err != nil {
			t.Fatal(err)
		}
		cs, _ := s.GuildChannels(u.ID, g)
		for _, c := range cs {
			if c.Type == model.ChannelVoice {
				lounge = c.ID
			}
		}
		if err := s.VoiceStateUpdate(ctx, model.SessionRef{ID: "gw-" + name, UserID: u.ID}, model.VoiceStateRequest{GuildID: g, ChannelID: &lounge}); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	reg.mu.Lock()
	reg.present["b/"+lounge.String()+"/"+users[0].String()] = true
	reg.mu.Unlock()
	reg.Upsert(registry.Node{ID: "b", Region: "local", Endpoint: "b.example:443"}, nil)
	reg.Remove("a")
	testkit.Eventually(t, 5*time.Second, func() bool { _, _, removed := s.VoiceMoves(); return removed == 1 }, "one member removed")
	if _, ok := s.voice.Get(g, users[1]); ok {
		t.Fatal("the member who never arrived is still in voice")
	}
	if _, ok := s.voice.Get(g, users[0]); !ok {
		t.Fatal("the member who arrived was removed")
	}
	left := false
	for _, ev := range rec.named("VOICE_STATE_UPDATE") {
		left = left || (bytes.Contains(ev.Data, []byte(`"user_id":"`+users[1].String()+`"`)) && bytes.Contains(ev.Data, []byte(`"channel_id":null`)))
	}
	if !left {
		t.Fatal("the guild was not told the member left voice")
	}
}

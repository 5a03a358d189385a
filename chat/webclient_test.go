package chat_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/testkit"
)

// webIntents are the intents the web client identifies with.
const webIntents = model.IntentGuilds | model.IntentGuildMembers | model.IntentGuildVoiceStates | model.IntentGuildPresences |
	model.IntentGuildMessages | model.IntentGuildMessageTyping | model.IntentMessageContent

// readyOf is what the web client reads of READY.
type readyOf struct {
	User      struct{ ID string }
	ReadState struct {
		Version int
		Partial bool
		Entries []struct {
			ID            string
			LastMessageID string `json:"last_message_id"`
			MentionCount  int    `json:"mention_count"`
		}
	} `json:"read_state"`
}

// guildOf is what the web client reads of GUILD_CREATE.
type guildOf struct {
	ID       string
	Channels []struct {
		ID, Name      string
		LastMessageID *string `json:"last_message_id"`
	}
	Members []struct {
		User struct{ ID, Username string }
	}
	VoiceStates []any `json:"voice_states"`
	Presences   []struct {
		User   struct{ ID string }
		Status string
	}
}

func (g guildOf) online() map[string]string {
	out := map[string]string{}
	for _, p := range g.Presences {
		out[p.User.ID] = p.Status
	}
	return out
}

// TestWebClientFeatures (issue 12): what the web client relies on, over
// the real gateway and REST on both engines: a registered user may
// identify with the privileged intents it asks for and lands in the
// seeded guild; GUILD_CREATE carries members with users, voice_states,
// the channels' last_message_id and the online members' presences;
// PRESENCE_UPDATE tells others when a user's first session connects and
// its last one ends; acks keep unread marks (MESSAGE_ACK to the user's
// other sessions, read_state in the next READY); a delete moves
// last_message_id back.
func TestWebClientFeatures(t *testing.T) {
	testkit.NoLeaks(t)
	for name, sc := range engines(t) {
		t.Run(name, func(t *testing.T) {
			s := startChat(t, sc, nil, nil)
			var alice, bob struct {
				Token  string `json:"token"`
				UserID string `json:"user_id"`
			}
			api(t, s, "POST", "/auth/register", "", map[string]string{"username": "alice", "password": "alice-password"}, &alice)
			api(t, s, "POST", "/auth/register", "", map[string]string{"username": "bob", "password": "bob-password"}, &bob)
			general := generalChannel(t, s, alice.Token)

			connect := func(token string) (*gwClient, readyOf, guildOf) {
				t.Helper()
				c := dialGateway(t, s, token, int(webIntents))
				var rd readyOf
				var gc guildOf
				if err := json.Unmarshal(c.expect("READY").D, &rd); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(c.expect("GUILD_CREATE").D, &gc); err != nil {
					t.Fatal(err)
				}
				return c, rd, gc
			}
			a1, rd, gc := connect(alice.Token)
			if rd.User.ID != alice.UserID || rd.ReadState.Version != 1 || rd.ReadState.Partial || len(rd.ReadState.Entries) != 0 {
				t.Fatalf("alice's READY %+v", rd)
			}
			members := map[string]bool{}
			for _, m := range gc.Members {
				members[m.User.ID] = m.User.Username != ""
			}
			if gc.ID != s.Service.DefaultGuild().String() || !members[alice.UserID] || !members[bob.UserID] || gc.VoiceStates == nil {
				t.Fatalf("GUILD_CREATE %+v", gc)
			}
			if on := gc.online(); len(on) != 1 || on[alice.UserID] != "online" {
				t.Fatalf("alice's GUILD_CREATE presences %v", on)
			}

			// Bob connects: alice sees him come online; he sees both.
			b1, _, bgc := connect(bob.Token)
			up := a1.expect("PRESENCE_UPDATE")
			if !strings.Contains(string(up.D), bob.UserID) || !strings.Contains(string(up.D), `"status":"online"`) {
				t.Fatalf("PRESENCE_UPDATE %s", up.D)
			}
			if on := bgc.online(); len(on) != 2 {
				t.Fatalf("bob's GUILD_CREATE presences %v", on)
			}

			// Bob writes twice; alice acks the first, from REST: her other
			// session hears of it; an older ack changes nothing.
			var m1, m2 struct{ ID string }
			api(t, s, "POST", "/channels/"+general+"/messages", bob.Token, map[string]string{"content": "hi <@" + alice.UserID + ">"}, &m1)
			api(t, s, "POST", "/channels/"+general+"/messages", bob.Token, map[string]string{"content": "second"}, &m2)
			a2, _, _ := connect(alice.Token)
			var tok map[string]any
			if code, _ := api(t, s, "POST", "/channels/"+general+"/messages/"+m2.ID+"/ack", alice.Token, map[string]any{"token": nil}, &tok); code != 200 ||
				len(tok) != 1 || tok["token"] != nil {
				t.Fatalf("ack: %d %v", code, tok)
			}
			ack := a2.expect("MESSAGE_ACK")
			if !strings.Contains(string(ack.D), `"message_id":"`+m2.ID+`"`) {
				t.Fatalf("MESSAGE_ACK %s", ack.D)
			}
			if code, _ := api(t, s, "POST", "/channels/"+general+"/messages/"+m1.ID+"/ack", alice.Token, nil, nil); code != 200 {
				t.Fatalf("older ack: %d", code)
			}
			if code, _ := api(t, s, "POST", "/channels/"+general+"/messages/"+m1.ID+"/ack", alice.Token, []byte(`{"token":`), nil); code != 400 {
				t.Fatalf("ack with bad JSON: %d", code)
			}
			_, rd3, gc3 := connect(alice.Token)
			if len(rd3.ReadState.Entries) != 1 || rd3.ReadState.Entries[0].ID != general || rd3.ReadState.Entries[0].LastMessageID != m2.ID {
				t.Fatalf("read_state after acks %+v", rd3.ReadState)
			}
			for _, c := range gc3.Channels {
				if c.ID == general && (c.LastMessageID == nil || *c.LastMessageID != m2.ID) {
					t.Fatalf("#general's last_message_id %v, want %s", c.LastMessageID, m2.ID)
				}
			}
			// Deleting the last message moves last_message_id back.
			if code, _ := api(t, s, "DELETE", "/channels/"+general+"/messages/"+m2.ID, bob.Token, nil, nil); code != 204 {
				t.Fatalf("delete: %d", code)
			}
			var ch struct {
				LastMessageID *string `json:"last_message_id"`
			}
			if api(t, s, "GET", "/channels/"+general, alice.Token, nil, &ch); ch.LastMessageID == nil || *ch.LastMessageID != m1.ID {
				t.Fatalf("last_message_id after the delete: %v, want %s", ch.LastMessageID, m1.ID)
			}

			// Bob's only session ends (close 1000): alice sees him go offline.
			_ = ws.WriteFrame(b1.nc, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, ""))))
			for {
				f := a1.expect("PRESENCE_UPDATE")
				if strings.Contains(string(f.D), bob.UserID) && strings.Contains(string(f.D), `"status":"offline"`) {
					break
				}
			}
		})
	}
}

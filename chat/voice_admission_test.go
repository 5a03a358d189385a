package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
)

// TestVoiceAdmission: chat answers a voice node's question at Identify and
// Resume from its stored state — a server mute set while the member was
// not in voice starts the session muted; a token whose session chat no
// longer knows (kicked, left, or simply made up) is revoked; a guild chat
// does not manage is the node's business. A voice channel's user_limit
// holds, and a non-member cannot put voice states into a guild.
func TestVoiceAdmission(t *testing.T) {
	testkit.NoLeaks(t)
	ctx := context.Background()
	voice := &fakeVoice{}
	s := startChat(t, store.Config{SQLitePath: filepath.Join(t.TempDir(), "chat.db")}, voice, nil)
	botUser, botTok, err := s.Service.CreateBot(ctx, "moderator", true)
	if err != nil {
		t.Fatal(err)
	}
	mod := "Bot " + botTok
	guild := s.Service.DefaultGuild()
	var lounge string
	chans, err := s.Service.GuildChannels(botUser.ID, guild)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		if c.Type == model.ChannelVoice {
			lounge = c.ID.String()
		}
	}
	register := func(name string) (token string, id model.Snowflake) {
		var reg struct {
			Token  string `json:"token"`
			UserID string `json:"user_id"`
		}
		if code, _ := api(t, s, "POST", "/auth/register", "", map[string]string{"username": name, "password": name + "-password"}, &reg); code != 201 {
			t.Fatalf("register %s: %d", name, code)
		}
		id, _ = model.ParseSnowflake(reg.UserID)
		return reg.Token, id
	}
	aliceTok, alice := register("alice")
	_, bob := register("bob")

	// Muted before she ever joins voice.
	if code, _ := api(t, s, "PATCH", "/guilds/"+guild.String()+"/members/"+alice.String(), mod, map[string]any{"mute": true}, nil); code != 200 {
		t.Fatalf("mute: %d", code)
	}
	gw := dialGateway(t, s, aliceTok, 1|1<<7)
	gw.expect("GUILD_CREATE")
	gw.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guild.String(), "channel_id": lounge}})
	var state struct {
		SessionID string `json:"session_id"`
		Mute      bool   `json:"mute"`
	}
	_ = json.Unmarshal(gw.expect("VOICE_STATE_UPDATE").D, &state)
	gw.expect("VOICE_SERVER_UPDATE")
	session := voicectl.Session{GuildID: guild.String(), ChannelID: lounge, UserID: alice.String(), SessionID: state.SessionID}
	m, err := s.Service.Admit(ctx, session)
	if err != nil || !m.Mute || m.Deaf || !state.Mute {
		t.Fatalf("Admit = %+v, %v (state mute %v); want the stored mute", m, err, state.Mute)
	}
	// The operator's deafen (admin API) is stored on the member too.
	if err := s.Service.Moderation().SetServerDeaf(ctx, guild.String(), alice.String(), true); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Service.Admit(ctx, session); !m.Deaf {
		t.Fatalf("after the operator's deafen: %+v", m)
	}

	for name, bad := range map[string]voicectl.Session{
		"made-up session":  {GuildID: guild.String(), ChannelID: lounge, UserID: alice.String(), SessionID: "0123"},
		"another channel":  {GuildID: guild.String(), ChannelID: "1", UserID: alice.String(), SessionID: state.SessionID},
		"another user":     {GuildID: guild.String(), ChannelID: lounge, UserID: bob.String(), SessionID: state.SessionID},
		"not an id (user)": {GuildID: guild.String(), ChannelID: lounge, UserID: "x", SessionID: state.SessionID},
	} {
		if _, err := s.Service.Admit(ctx, bad); !errors.Is(err, voicectl.ErrRevoked) {
			t.Errorf("%s: %v, want ErrRevoked", name, err)
		}
	}
	if _, err := s.Service.Admit(ctx, voicectl.Session{GuildID: "g1", ChannelID: "c", UserID: "u", SessionID: "s"}); !errors.Is(err, voicectl.ErrNotManaged) {
		t.Errorf("unmanaged guild: %v, want ErrNotManaged", err)
	}

	// user_limit: Lounge holds one; bob cannot join while alice is there.
	if code, _ := api(t, s, "PATCH", "/channels/"+lounge, mod, map[string]any{"user_limit": 1}, nil); code != 200 {
		t.Fatalf("user_limit: %d", code)
	}
	loungeID, _ := model.ParseSnowflake(lounge)
	bobRef := model.SessionRef{ID: "bob-gw", UserID: bob}
	if err := s.Service.VoiceStateUpdate(ctx, bobRef, model.VoiceStateRequest{GuildID: guild, ChannelID: &loungeID}); !errors.Is(err, service.ErrChannelFull) {
		t.Fatalf("join of a full channel: %v, want ErrChannelFull", err)
	}

	// A non-member cannot leave (and so announce) voice in the guild.
	outsider := model.SessionRef{ID: "x-gw", UserID: 42}
	if err := s.Service.VoiceStateUpdate(ctx, outsider, model.VoiceStateRequest{GuildID: guild}); !errors.Is(err, service.ErrUnknownGuild) {
		t.Fatalf("non-member op 4: %v, want ErrUnknownGuild", err)
	}

	// Kicked: the live session is disconnected and the token revoked.
	if code, _ := api(t, s, "DELETE", "/guilds/"+guild.String()+"/members/"+alice.String(), mod, nil, nil); code != 204 {
		t.Fatalf("kick: %d", code)
	}
	if !voice.has("disconnect " + alice.String()) {
		t.Fatalf("kick did not disconnect voice: %v", voice.calls)
	}
	if !voice.has("revoke " + alice.String() + " " + state.SessionID) {
		t.Fatalf("kick did not revoke the voice session on the nodes: %v", voice.calls)
	}
	if _, err := s.Service.Admit(ctx, session); !errors.Is(err, voicectl.ErrRevoked) {
		t.Fatalf("after the kick: %v, want ErrRevoked", err)
	}
	// Now there is room: bob joins.
	if err := s.Service.VoiceStateUpdate(ctx, bobRef, model.VoiceStateRequest{GuildID: guild, ChannelID: &loungeID}); err != nil {
		t.Fatalf("bob after alice left: %v", err)
	}
}

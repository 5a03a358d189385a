package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/voiceclient"
)

// TestVoiceModerationEndToEnd runs `parley serve` with voice, chat and the
// admin API, and a real Go voice client: a server mute set while the
// member is not in voice holds when they join and when they reconnect; the
// operator's deafen through the admin API holds too; a kick closes the live
// voice session with 4014 and refuses the old credentials.
func TestVoiceModerationEndToEnd(t *testing.T) {
	dir := t.TempDir()
	_, ready := startServe(t, dir, "--only", "voice,chat,admin")
	apiAddr, _ := ready["api"].(string)
	gwAddr, _ := ready["gateway"].(string)
	adminAddr, _ := ready["admin"].(string)
	dd, _ := datadir.Open(dir)
	pool, err := dd.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := dd.Key("admin")
	out, err := parleyCmd(context.Background(), "bot", "create", "--name", "moderator", "--admin", "--data-dir", dir, "--json").Output()
	if err != nil {
		t.Fatalf("bot create: %v", err)
	}
	var bot botCreated
	if err := json.Unmarshal(out, &bot); err != nil {
		t.Fatal(err)
	}
	mod := "Bot " + bot.Token

	var reg struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	if code := chatCall(t, apiAddr, "POST", "/auth/register", "", map[string]string{"username": "alice", "password": "alice-password"}, &reg); code != 201 {
		t.Fatalf("register %d", code)
	}
	gw := dialChatGateway(t, gwAddr, reg.Token, 1|1<<7)
	var guild struct {
		ID       string
		Channels []struct {
			ID, Name string
			Type     int
		}
	}
	_ = json.Unmarshal(gw.expect("GUILD_CREATE"), &guild)
	var lounge string
	for _, c := range guild.Channels {
		if c.Type == 2 {
			lounge = c.ID
		}
	}
	if code := chatCall(t, apiAddr, "PATCH", "/guilds/"+guild.ID+"/members/"+reg.UserID, mod, map[string]any{"mute": true}, nil); code != 200 {
		t.Fatalf("mute before joining: %d", code)
	}
	gw.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guild.ID, "channel_id": lounge, "self_mute": false, "self_deaf": false}})
	var state struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(gw.expect("VOICE_STATE_UPDATE"), &state)
	var server struct{ Token, Endpoint string }
	_ = json.Unmarshal(gw.expect("VOICE_SERVER_UPDATE"), &server)
	cfg := voiceclient.Config{Endpoint: server.Endpoint, Token: server.Token, SessionID: state.SessionID,
		UserID: reg.UserID, GuildID: guild.ID, ChannelID: lounge, RootCAs: pool, DisableDAVE: true}
	dial := func() (*voiceclient.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return voiceclient.Dial(ctx, cfg)
	}
	admin := func(method, path string, body, out any) int {
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, "http://"+adminAddr+path, rd)
		req.Header.Set("Authorization", "Bearer "+adminToken(key))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	sfuState := func() voicectl.Participant {
		var list []voicectl.Participant
		admin("GET", "/admin/voice/participants", nil, &list)
		for _, p := range list {
			if p.UserID == reg.UserID {
				return p
			}
		}
		return voicectl.Participant{}
	}

	vc, err := dial()
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if p := sfuState(); !p.Mute || p.Deaf {
		t.Fatalf("joined: %+v, want server-muted", p)
	}
	// The operator's deafen goes through chat: it holds on reconnect.
	if code := admin("POST", "/admin/voice/deafen", map[string]any{"guild_id": guild.ID, "user_id": reg.UserID}, nil); code != 200 {
		t.Fatalf("admin deafen: %d", code)
	}
	_ = vc.Close()
	if vc, err = dial(); err != nil {
		t.Fatalf("reconnect: %v", err)
	}
	if p := sfuState(); !p.Mute || !p.Deaf {
		t.Fatalf("reconnected: %+v, want muted and deafened", p)
	}
	var member struct{ Mute, Deaf bool }
	chatCall(t, apiAddr, "GET", "/guilds/"+guild.ID+"/members/"+reg.UserID, mod, nil, &member)
	if !member.Mute || !member.Deaf {
		t.Fatalf("chat's member %+v: the admin API's deafen was not stored", member)
	}

	// Kicked: the live session ends with 4014, the credentials are refused.
	if code := chatCall(t, apiAddr, "DELETE", "/guilds/"+guild.ID+"/members/"+reg.UserID, mod, nil, nil); code != 204 {
		t.Fatalf("kick: %d", code)
	}
	select {
	case <-vc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the kicked member's voice session is still up")
	}
	var ce *voiceclient.CloseError
	if err := vc.Err(); !errors.As(err, &ce) || ce.Code != 4014 {
		t.Fatalf("kicked session ended with %v, want close 4014", err)
	}
	_ = vc.Close()
	if _, err := dial(); !errors.As(err, &ce) || ce.Code != 4014 {
		t.Fatalf("old credentials after the kick: %v, want close 4014", err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return sfuState().UserID == "" }, "kicked member gone from the SFU")
}

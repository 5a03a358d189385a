package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/fleet"
	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testetcd"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/testpg"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceclient"
)

// TestFleet: two voice nodes (`--only voice --registry … --region
// rotterdam` and `japan`) and a chat node (`--only chat`, PostgreSQL when
// configured) share a real etcd. rtc_region takes only the live regions;
// a Go voice client joins a channel whose rtc_region is japan through
// chat's hand-off and lands on japan's node; `parley fleet status` lists
// both nodes, serving, with the participant.
func TestFleet(t *testing.T) {
	etcd := testetcd.Start(t)
	registry := "etcd://" + etcd.Endpoint
	chatDir := t.TempDir()
	cd, err := datadir.Open(chatDir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cd.Key(voicetoken.KeyName) // one fleet-wide voice key, copied by hand for now
	if err != nil {
		t.Fatal(err)
	}
	voice := map[string]map[string]any{}
	pools := map[string]*datadir.Dir{}
	for _, region := range []string{"rotterdam", "japan"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", voicetoken.KeyName+".key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
		_, ready := startServe(t, dir, "--only", "voice", "--registry", registry, "--region", region, "--node-id", "node-"+region, "--registry-ttl", "2s")
		voice[region] = ready
		pools[region], _ = datadir.Open(dir)
	}
	args := []string{"--only", "chat", "--registry", registry, "--region", "europe"}
	if dsn := testpg.DSN(t, "fleet"); dsn != "" {
		args = append(args, "--chat-postgres-dsn", dsn)
	}
	_, ready := startServe(t, chatDir, args...)
	api, gwAddr := ready["api"].(string), ready["gateway"].(string)

	out, err := parleyCmd(context.Background(), "bot", "create", "--name", "fleetadmin", "--admin", "--data-dir", chatDir, "--json").Output()
	if err != nil {
		t.Fatalf("bot create: %v", err)
	}
	var bot botCreated
	if err := json.Unmarshal(out, &bot); err != nil {
		t.Fatal(err)
	}
	admin := "Bot " + bot.Token
	testkit.Eventually(t, 10*time.Second, func() bool {
		var regions []struct{ ID string }
		chatCall(t, api, "GET", "/voice/regions", admin, nil, &regions)
		return len(regions) == 2 && regions[0].ID == "rotterdam" && regions[1].ID == "japan"
	}, "GET /voice/regions lists rotterdam (nearest europe) then japan")

	var guilds []struct{ ID string }
	chatCall(t, api, "GET", "/users/@me/guilds", admin, nil, &guilds)
	var chans []struct{ ID, Name string }
	chatCall(t, api, "GET", "/guilds/"+guilds[0].ID+"/channels", admin, nil, &chans)
	var lounge string
	for _, c := range chans {
		if c.Name == "Lounge" {
			lounge = c.ID
		}
	}
	var apiErr struct{ Code int }
	if code := chatCall(t, api, "PATCH", "/channels/"+lounge, admin, map[string]any{"rtc_region": "moon"}, &apiErr); code != 400 || apiErr.Code != 50035 {
		t.Fatalf("rtc_region moon: %d %+v, want 400 50035", code, apiErr)
	}
	if code := chatCall(t, api, "PATCH", "/channels/"+lounge, admin, map[string]any{"rtc_region": "japan"}, nil); code != 200 {
		t.Fatalf("rtc_region japan: %d", code)
	}

	var user struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	if code := chatCall(t, api, "POST", "/auth/register", "", map[string]string{"username": "traveller", "password": "traveller-pw"}, &user); code != 201 {
		t.Fatalf("register %d", code)
	}
	gw := dialChatGateway(t, gwAddr, user.Token, 1|1<<7)
	gw.expect("GUILD_CREATE")
	gw.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guilds[0].ID, "channel_id": lounge, "self_mute": false, "self_deaf": false}})
	var state struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(gw.expect("VOICE_STATE_UPDATE", func(d json.RawMessage) bool { return bytes.Contains(d, []byte(`"user_id":"`+user.UserID+`"`)) }), &state)
	var server struct{ Token, Endpoint string }
	_ = json.Unmarshal(gw.expect("VOICE_SERVER_UPDATE"), &server)
	if server.Endpoint != voice["japan"]["voice_gateway"] {
		t.Fatalf("hand-off to %s, want japan's node %v (rotterdam's is %v)", server.Endpoint, voice["japan"]["voice_gateway"], voice["rotterdam"]["voice_gateway"])
	}
	pool, err := pools["japan"].CertPool()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vc, err := voiceclient.Dial(ctx, voiceclient.Config{Endpoint: server.Endpoint, Token: server.Token, SessionID: state.SessionID,
		UserID: user.UserID, GuildID: guilds[0].ID, ChannelID: lounge, RootCAs: pool})
	if err != nil {
		t.Fatalf("voice client on japan's node: %v", err)
	}
	defer vc.Close()

	var nodes []fleet.NodeStatus
	testkit.Eventually(t, 10*time.Second, func() bool {
		out, err := parleyCmd(context.Background(), "fleet", "status", "--registry", registry, "--json").Output()
		if err != nil || json.Unmarshal(out, &nodes) != nil || len(nodes) != 2 {
			return false
		}
		return nodes[0].ID == "node-japan" && nodes[0].State == "serving" && nodes[0].Load.Participants == 1 && nodes[0].Placements == 1 &&
			nodes[1].ID == "node-rotterdam" && nodes[1].State == "serving" && nodes[1].Load.Participants == 0
	}, "fleet status lists japan (1 participant, 1 placement) and rotterdam, both serving")
	table, err := parleyCmd(context.Background(), "voice", "nodes", "--registry", registry).Output()
	if err != nil || !strings.Contains(string(table), "node-japan") || !strings.Contains(string(table), "REGION") {
		t.Fatalf("voice nodes table: %v\n%s", err, table)
	}
	t.Logf("parley fleet status:\n%s", table)
}

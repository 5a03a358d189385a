package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
)

// chatGateway is a minimal main-gateway client for the Go side of the test.
type chatGateway struct {
	t  *testing.T
	ws *websocket.Conn
}

type gwMsg struct {
	Op int             `json:"op"`
	T  *string         `json:"t"`
	D  json.RawMessage `json:"d"`
}

func dialChatGateway(t *testing.T, addr, token string, intents int) *chatGateway {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	g := &chatGateway{t: t, ws: ws}
	g.expect("op10")
	g.send(map[string]any{"op": 2, "d": map[string]any{"token": token, "intents": intents, "properties": map[string]string{"os": "linux"}}})
	return g
}

func (g *chatGateway) send(v any) {
	if err := g.ws.WriteJSON(v); err != nil {
		g.t.Fatal(err)
	}
}

// expect returns the next dispatch named name (or "opN"), passing match.
func (g *chatGateway) expect(name string, match ...func(json.RawMessage) bool) json.RawMessage {
	g.t.Helper()
	_ = g.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m gwMsg
		if err := g.ws.ReadJSON(&m); err != nil {
			g.t.Fatalf("waiting for %s: %v", name, err)
		}
		if m.Op == 1 {
			g.send(map[string]any{"op": 1, "d": nil})
		}
		ok := (m.T != nil && *m.T == name) || (m.T == nil && name == "op"+itoa(m.Op))
		for _, f := range match {
			ok = ok && f(m.D)
		}
		if ok {
			return m.D
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestChatDiscordJSVoice: a discord.js Client joins Lounge through Parley's
// main gateway with @discordjs/voice and guild.voiceAdapterCreator, plays an
// Ogg Opus file, and a Go voice client (voiceclient) that joined the
// same channel through the same hand-off receives every packet byte for
// byte.
func TestChatDiscordJSVoice(t *testing.T) {
	root, _ := filepath.Abs("../..")
	node, err := exec.LookPath("node")
	missing := ""
	if err != nil {
		missing = "node not in PATH"
	} else if _, err := os.Stat(filepath.Join(root, "interop/node/node_modules/@discordjs/voice/package.json")); err != nil {
		missing = "interop/node/node_modules/@discordjs/voice missing (run scripts/deps.sh)"
	}
	if missing != "" {
		if os.Getenv("PARLEY_INTEROP") == "1" {
			t.Fatal(missing)
		}
		t.Skip(missing + "; PARLEY_INTEROP=1 makes this a failure")
	}
	dir := t.TempDir()
	_, ready := startServe(t, dir, "--only", "voice,chat")
	apiAddr, _ := ready["api"].(string)
	gwAddr, _ := ready["gateway"].(string)
	if apiAddr == "" || gwAddr == "" || ready["voice_gateway"] == nil {
		t.Fatalf("ready %v", ready)
	}
	out, err := parleyCmd(context.Background(), "bot", "create", "--name", "jsvoice", "--data-dir", dir, "--json").Output()
	if err != nil {
		t.Fatalf("bot create: %v", err)
	}
	var bot botCreated
	if err := json.Unmarshal(out, &bot); err != nil {
		t.Fatal(err)
	}

	// The Go listener: a user who joins Lounge through the main gateway.
	var reg struct {
		Token  string `json:"token"`
		UserID string `json:"user_id"`
	}
	if code := chatCall(t, apiAddr, "POST", "/auth/register", "", map[string]string{"username": "listener", "password": "listener-pw"}, &reg); code != 201 {
		t.Fatalf("register %d", code)
	}
	gw := dialChatGateway(t, gwAddr, reg.Token, 1|1<<7)
	var guild struct {
		ID       string
		Channels []struct{ ID, Name string }
	}
	_ = json.Unmarshal(gw.expect("GUILD_CREATE"), &guild)
	var lounge string
	for _, c := range guild.Channels {
		if c.Name == "Lounge" {
			lounge = c.ID
		}
	}
	gw.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": guild.ID, "channel_id": lounge, "self_mute": false, "self_deaf": false}})
	var state struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(gw.expect("VOICE_STATE_UPDATE", func(d json.RawMessage) bool { return bytes.Contains(d, []byte(`"user_id":"`+reg.UserID+`"`)) }), &state)
	var server struct{ Token, Endpoint string }
	_ = json.Unmarshal(gw.expect("VOICE_SERVER_UPDATE"), &server)
	dd, _ := datadir.Open(dir)
	pool, err := dd.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got [][]byte
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	vc, err := voiceclient.Dial(ctx, voiceclient.Config{
		Endpoint: server.Endpoint, Token: server.Token, SessionID: state.SessionID, UserID: reg.UserID,
		GuildID: guild.ID, ChannelID: lounge, RootCAs: pool,
		OnFrame: func(f voiceclient.Frame) {
			if ogg.IsSilence(f.Opus) {
				return
			}
			mu.Lock()
			got = append(got, append([]byte(nil), f.Opus...))
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("voice client: %v", err)
	}
	defer vc.Close()

	// The discord.js bot.
	frames := ogg.SyntheticOpus(150, 7)
	file := filepath.Join(dir, "play.ogg")
	if err := ogg.WriteFile(file, frames); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "interop/node/chat/voice.mjs"), "http://"+apiAddr+"/api", bot.Token, file)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+dd.CertPath())
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	expect := func(event string) map[string]any {
		t.Helper()
		for lines.Scan() {
			var m map[string]any
			if json.Unmarshal(lines.Bytes(), &m) != nil {
				t.Logf("node: %s", lines.Text())
				continue
			}
			if m["event"] == "error" {
				t.Fatalf("node: %v", m)
			}
			if m["event"] == event {
				return m
			}
		}
		t.Fatalf("node exited waiting for %s", event)
		return nil
	}
	say := func(s string) { _, _ = io.WriteString(stdin, s+"\n") }
	if r := expect("ready"); r["channel"] != lounge {
		t.Fatalf("ready %v", r)
	}
	say("join")
	joined := expect("joined")
	t.Logf("discord.js voice ready: %v", joined)
	// The Go side sees the bot's VOICE_STATE_UPDATE in Lounge.
	gw.expect("VOICE_STATE_UPDATE", func(d json.RawMessage) bool {
		return bytes.Contains(d, []byte(`"user_id":"`+bot.UserID+`"`)) && bytes.Contains(d, []byte(`"channel_id":"`+lounge+`"`))
	})
	say("play")
	expect("played")
	testkit.Poll(5*time.Second, func() bool { // the check below says what is missing
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(frames)
	})
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(frames) {
		t.Fatalf("received %d frames, sent %d", len(got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d differs: got %x… want %x…", i, got[i][:min(8, len(got[i]))], frames[i][:min(8, len(frames[i]))])
		}
	}
	say("leave")
	expect("left")
	gw.expect("VOICE_STATE_UPDATE", func(d json.RawMessage) bool {
		return bytes.Contains(d, []byte(`"user_id":"`+bot.UserID+`"`)) && bytes.Contains(d, []byte(`"channel_id":null`))
	})
}

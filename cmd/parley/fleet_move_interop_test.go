package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
)

// TestFleetDrainDiscordJS: a discord.js bot (@discordjs/voice through
// Parley's main gateway) plays 20 s of audio in Lounge with a Go
// listener beside it; `parley voice drain` of their node moves the call,
// and the bot is back in it on the other node by the VOICE_SERVER_UPDATE
// alone: the listener hears it again; its gap is logged. (The bot does
// not speak DAVE here, as in TestChatDiscordJSVoice.)
func TestFleetDrainDiscordJS(t *testing.T) {
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
	h := startPair(t)
	bot := h.createBot("djsmover", false)

	ctx, join := h.startMovers()
	listener := join("listener")

	dir := t.TempDir()
	file, certs := filepath.Join(dir, "play.ogg"), filepath.Join(dir, "voice-nodes.pem")
	if err := ogg.WriteFile(file, ogg.SyntheticOpus(1000, 3)); err != nil { // 20 s
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, h.pems, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "interop/node/chat/voice.mjs"), "http://"+h.api+"/api", bot.Token, file)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+certs)
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
				continue
			}
			if m["event"] == "error" {
				t.Fatalf("node: %v", m)
			}
			if m["event"] == "state" {
				t.Logf("discord.js voice connection: %v -> %v", m["from"], m["to"])
			}
			if m["event"] == event {
				return m
			}
		}
		t.Fatalf("node exited waiting for %s", event)
		return nil
	}
	say := func(s string) { _, _ = io.WriteString(stdin, s+"\n") }
	expect("ready")
	say("join")
	expect("joined")
	say("play")
	speakers := []string{bot.UserID}
	hears := func(after time.Time, msg string) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, func() bool { return listener.heardAll(speakers, after) }, "%s", msg)
	}
	hears(time.Now(), "the Go listener hears the discord.js bot")
	from := h.nodeCarrying(2, "")
	listener.mark()
	if out, err := parleyCmd(context.Background(), "voice", "drain", "--registry", h.registry, from).CombinedOutput(); err != nil {
		t.Fatalf("voice drain: %v\n%s", err, out)
	}
	for st := expect("state"); st["to"] != "ready"; st = expect("state") {
	} // the bot's voice connection is ready again, on the new node
	to := h.nodeCarrying(2, from)
	hears(time.Now(), "the Go listener hears the discord.js bot after the drain")
	median, _ := gapReport(t, "drain, @discordjs/voice speaker to a Go listener ("+from+" -> "+to+")", []*mover{listener}, speakers)
	if median > 5*1500*time.Millisecond {
		t.Errorf("discord.js gap %v: beyond 5x the drain target", median)
	}
	expect("played")
}

package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// readyModes joins the running server with voice-token credentials and
// returns the encryption modes Ready offers.
func readyModes(t *testing.T, dir string) []string {
	t.Helper()
	out, err := parleyCmd(context.Background(), "voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3").Output()
	if err != nil {
		t.Fatalf("voice-token: %v", err)
	}
	var creds voicetoken.Credentials
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatal(err)
	}
	d, _ := datadir.Open(dir)
	pool, _ := d.CertPool()
	ws, _, err := (&websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}).Dial("wss://"+creds.Endpoint+"/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.WriteJSON(voiceproto.Message{Op: voiceproto.OpIdentify, D: voiceproto.Identify{ServerID: voiceproto.ID(creds.GuildID),
		UserID: voiceproto.ID(creds.UserID), SessionID: voiceproto.ID(creds.SessionID), Token: creds.Token}})
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m voiceproto.RawMessage
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for ready: %v", err)
		}
		if m.Op == voiceproto.OpReady {
			var r voiceproto.Ready
			_ = json.Unmarshal(m.D, &r)
			return r.Modes
		}
	}
}

// TestServeProductionDefaults: a plain `parley serve` offers only the two
// current voice encryption modes (the deprecated ones need --dev, which
// `make run` passes), and keeps its data dir private even when it already
// existed open to others.
func TestServeProductionDefaults(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	startServe(t, dir, "--only", "voice")
	if modes := readyModes(t, dir); !slices.Equal(modes, voiceproto.Modes(false)) {
		t.Fatalf("plain serve offers %v, want only %v", modes, voiceproto.Modes(false))
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}

	dev := t.TempDir()
	startServe(t, dev, "--only", "voice", "--dev")
	if modes := readyModes(t, dev); !slices.Contains(modes, voiceproto.ModeXSalsa20) {
		t.Fatalf("--dev offers %v, want the legacy modes too", modes)
	}
}

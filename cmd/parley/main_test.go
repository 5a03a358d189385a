package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/voicetoken"
)

// TestMain lets tests run this test binary as the parley command itself
// (PARLEY_TEST_MAIN=1), so process-level tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("PARLEY_TEST_MAIN") == "1" {
		os.Args = append([]string{"parley"}, strings.Fields(os.Getenv("PARLEY_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// parleyCmd returns a command running this binary as `parley args...`.
func parleyCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PARLEY_TEST_MAIN=1", "PARLEY_TEST_ARGS="+strings.Join(args, " "))
	return cmd
}

// serveAddrFlags are serve's listen-address flags; startServe sets each to
// port 0 on loopback.
var serveAddrFlags = []string{"voice-addr", "voice-udp-addr", "voice-webrtc-addr", "chat-api-addr", "chat-gateway-addr",
	"media-addr", "metrics-addr", "admin-addr", "web-addr"}

// startServe runs `parley serve` with every listener on port 0 (extra
// may override one: the last value of a flag wins) and returns its ready
// JSON.
func startServe(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, map[string]any) {
	t.Helper()
	cmd, ready, _ := startServeOut(t, dataDir, extra...)
	return cmd, ready
}

// startServeOut is startServe that also returns the rest of serve's
// standard output.
func startServeOut(t *testing.T, dataDir string, extra ...string) (*exec.Cmd, map[string]any, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	args := []string{"serve", "--data-dir", dataDir, "--log-level", "warn"}
	for _, f := range serveAddrFlags {
		args = append(args, "--"+f, "127.0.0.1:0")
	}
	args = append(args, extra...)
	cmd := parleyCmd(ctx, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading ready line: %v", err)
	}
	var ready map[string]any
	if err := json.Unmarshal([]byte(line), &ready); err != nil || ready["ready"] != true {
		t.Fatalf("ready line %q: %v", line, err)
	}
	return cmd, ready, out
}

func TestServeReadyAndShutdown(t *testing.T) {
	dir := t.TempDir()
	cmd, ready := startServe(t, dir, "--only", "voice,admin")
	for _, k := range []string{"voice_gateway", "voice_udp", "webrtc_udp", "metrics", "admin"} {
		if s, _ := ready[k].(string); !strings.HasPrefix(s, "127.0.0.1:") || strings.HasSuffix(s, ":0") {
			t.Fatalf("ready[%s] = %v", k, ready[k])
		}
	}
	d, _ := datadir.Open(dir)
	onDisk, err := d.ReadReady()
	if err != nil || onDisk["voice_gateway"] != ready["voice_gateway"] {
		t.Fatalf("ready.json %v (%v)", onDisk, err)
	}

	// voice-token issues credentials for that server.
	out, err := parleyCmd(context.Background(), "voice-token", "--data-dir", dir, "--user", "1", "--guild", "2", "--channel", "3").Output()
	if err != nil {
		t.Fatalf("voice-token: %v", err)
	}
	var creds voicetoken.Credentials
	if err := json.Unmarshal(out, &creds); err != nil || creds.Endpoint != ready["voice_gateway"] || creds.Token == "" || creds.SessionID == "" {
		t.Fatalf("voice-token printed %s", out)
	}

	// A client connected at SIGTERM gets a close frame, not a reset.
	pool, err := d.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	dialer := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	ws, _, err := dialer.Dial("wss://"+creds.Endpoint+"/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"op": 0, "d": map[string]any{
		"server_id": creds.GuildID, "user_id": creds.UserID, "session_id": creds.SessionID, "token": creds.Token}}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m struct{ Op int }
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for ready: %v", err)
		}
		if m.Op == 2 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("after SIGTERM: %v, want close 1001", err)
		}
		break
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exit: %v", err)
	}
	if _, err := d.ReadReady(); !errors.Is(err, datadir.ErrNotReady) {
		t.Fatalf("ready.json left behind: %v", err)
	}
}

package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/testpg"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/parleyhq/parley/chat"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/voicectl"
)

// fakeVoice records what the control plane asks the SFU to do.
type fakeVoice struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeVoice) record(s string) error {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	return nil
}
func (f *fakeVoice) SetServerMute(_ context.Context, g, u string, m bool) error {
	return f.record("mute " + u + " " + boolStr(m))
}
func (f *fakeVoice) SetServerDeaf(_ context.Context, g, u string, d bool) error {
	return f.record("deaf " + u + " " + boolStr(d))
}
func (f *fakeVoice) Disconnect(_ context.Context, g, u string) error {
	return f.record("disconnect " + u)
}
func (f *fakeVoice) Revoke(_ context.Context, s voicectl.Session, _ time.Time) error {
	return f.record("revoke " + s.UserID + " " + s.SessionID)
}
func (f *fakeVoice) has(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if c == s {
			return true
		}
	}
	return false
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

var _ voicectl.Bus = (*fakeVoice)(nil)

var testVoiceKey = bytes.Repeat([]byte{7}, 32)

// engines returns the store configs to run on: SQLite always, PostgreSQL
// when configured.
func engines(t *testing.T) map[string]store.Config {
	out := map[string]store.Config{"sqlite": {SQLitePath: filepath.Join(t.TempDir(), "chat.db")}}
	if dsn := testpg.DSN(t, "chat"); dsn != "" {
		out["postgres"] = store.Config{PostgresDSN: dsn}
	} else {
		t.Log("PARLEY_TEST_POSTGRES_DSN not set: PostgreSQL half skipped")
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startChat(t testing.TB, sc store.Config, voice *fakeVoice, mod func(*chat.Config)) *chat.Server {
	t.Helper()
	cfg := chat.Config{
		Logger: testLogger(t), Store: sc, APIAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0",
		VoiceEndpoint: "127.0.0.1:9", VoiceKey: testVoiceKey, PasswordIterations: 1000,
	}
	if voice != nil {
		cfg.Voice = voice
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := chat.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// api does one REST call and decodes the JSON answer into out (if non-nil).
func api(t testing.TB, s *chat.Server, method, path, token string, body any, out any) (int, http.Header) {
	t.Helper()
	return apiVia(t, http.DefaultClient, s, method, path, token, body, out)
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address src (so one test can be many clients to the per-address
// limits, as real clients are).
func clientFrom(t testing.TB, src string) *http.Client {
	d := testkit.DialerFrom(src)
	d.Timeout = 5 * time.Second
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// apiVia is api through client.
func apiVia(t testing.TB, client *http.Client, s *chat.Server, method, path, token string, body any, out any) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if b, ok := body.([]byte); ok {
		rd = bytes.NewReader(b)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+s.APIAddr()+"/api/v10"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// register creates an account named name and returns its token.
func register(t testing.TB, s *chat.Server, name string) string {
	t.Helper()
	var reg struct{ Token string }
	if code, _ := api(t, s, "POST", "/auth/register", "", map[string]string{"username": name, "password": "hunter2hunter2"}, &reg); code != 201 {
		t.Fatalf("register %s: %d", name, code)
	}
	return reg.Token
}

// generalChannel returns the id of the default guild's #general.
func generalChannel(t testing.TB, s *chat.Server, token string) string {
	t.Helper()
	var chans []struct{ ID, Name string }
	api(t, s, "GET", "/guilds/"+s.Service.DefaultGuild().String()+"/channels", token, nil, &chans)
	for _, c := range chans {
		if c.Name == "general" {
			return c.ID
		}
	}
	t.Fatalf("no #general in %+v", chans)
	return ""
}

type gwClient struct {
	t  *testing.T
	nc net.Conn
	r  io.Reader
}

type gwFrame struct {
	Op int             `json:"op"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
	D  json.RawMessage `json:"d"`
}

func dialGateway(t *testing.T, s *chat.Server, token string, intents int) *gwClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, "ws://"+s.GatewayAddr()+"/?v=10&encoding=json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &gwClient{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	c.expect("op10")
	c.send(map[string]any{"op": 2, "d": map[string]any{"token": token, "intents": intents, "properties": map[string]string{"os": "linux"}}})
	return c
}

func (c *gwClient) send(v any) {
	b, _ := json.Marshal(v)
	if err := wsutil.WriteClientText(c.nc, b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame, or the close code once the server closes
// (each read waits at most 10 s).
func (c *gwClient) read() (gwFrame, int) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	data, err := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{c.r, c.nc})
	var ce wsutil.ClosedError
	if errors.As(err, &ce) {
		return gwFrame{}, int(ce.Code)
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f gwFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("bad frame %s: %v", data, err)
	}
	return f, 0
}

// expect reads until a dispatch named name (or "opN") arrives.
func (c *gwClient) expect(name string) gwFrame {
	c.t.Helper()
	for {
		f, code := c.read()
		if code != 0 {
			c.t.Fatalf("closed %d waiting for %s", code, name)
		}
		if (f.T != nil && *f.T == name) || (f.T == nil && name == fmt.Sprint("op", f.Op)) {
			return f
		}
	}
}

// expectClose reads until the server closes and returns the close code.
func (c *gwClient) expectClose() int {
	c.t.Helper()
	for {
		if _, code := c.read(); code != 0 {
			return code
		}
	}
}

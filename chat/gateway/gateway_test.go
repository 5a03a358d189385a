package gateway

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/testkit"
)

const testGuild model.Snowflake = 1000

type fakeBackend struct {
	mu      sync.Mutex
	started []string // "session status" per SessionStarted
	ended   []string
	voices  []model.VoiceStateRequest
	revoked map[model.TokenID]bool
	checks  int
	// guildCreates counts GuildCreate calls.
	guildCreates int
	srv          *Server
}

// fakeToken is the id of a test token: its text, zero-padded.
func fakeToken(token string) model.TokenID {
	var id model.TokenID
	copy(id[:], token)
	return id
}

var fakeUsers = map[string]model.User{
	"good": model.NewUser(1, "bot", true), "good2": model.NewUser(1, "bot", true), "other": model.NewUser(2, "other", true),
}

func (f *fakeBackend) Authenticate(ctx context.Context, token string) (model.Auth, error) {
	return f.CheckToken(ctx, fakeToken(token))
}

func (f *fakeBackend) CheckToken(_ context.Context, id model.TokenID) (model.Auth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	for tok, u := range fakeUsers {
		if fakeToken(tok) == id && !f.revoked[id] {
			return model.Auth{User: u, Token: id}, nil
		}
	}
	return model.Auth{}, model.ErrUnauthorized
}

// revoke makes a token fail from now on.
func (f *fakeBackend) revoke(token string) {
	f.mu.Lock()
	if f.revoked == nil {
		f.revoked = map[model.TokenID]bool{}
	}
	f.revoked[fakeToken(token)] = true
	f.mu.Unlock()
}
func (f *fakeBackend) GuildsOf(model.Snowflake) []model.Snowflake {
	return []model.Snowflake{testGuild}
}
func (f *fakeBackend) GuildCreate(g model.Snowflake, intents model.Intent) ([]byte, error) {
	f.mu.Lock()
	f.guildCreates++
	f.mu.Unlock()
	return json.Marshal(map[string]any{"id": g, "name": "Parley", "channels": []any{}, "intents": intents})
}
func (f *fakeBackend) ReadState(_ context.Context, user model.Snowflake) (json.RawMessage, error) {
	return json.Marshal(map[string]any{"version": 1, "partial": false, "entries": []any{map[string]any{"id": "5", "last_message_id": user}}})
}
func (f *fakeBackend) SessionStarted(_ context.Context, s model.SessionRef, p model.PresenceUpdate) {
	f.mu.Lock()
	f.started = append(f.started, s.ID+" "+p.Status)
	f.mu.Unlock()
}
func (f *fakeBackend) VoiceStateUpdate(_ context.Context, s model.SessionRef, req model.VoiceStateRequest) error {
	f.mu.Lock()
	f.voices = append(f.voices, req)
	f.mu.Unlock()
	ev, _ := model.NewEvent("VOICE_STATE_UPDATE", req.GuildID, model.IntentGuildVoiceStates, map[string]any{"session_id": s.ID})
	f.srv.Dispatch(ev)
	ev2, _ := model.NewEvent("VOICE_SERVER_UPDATE", 0, 0, map[string]any{"token": "t", "endpoint": "x:1"})
	f.srv.DispatchSession(s.ID, ev2)
	return nil
}
func (f *fakeBackend) PresenceUpdate(context.Context, model.SessionRef, model.PresenceUpdate) error {
	return nil
}
func (f *fakeBackend) GuildMembersChunk(context.Context, model.SessionRef, model.RequestGuildMembers) ([]byte, error) {
	return []byte(`{"members":[]}`), nil
}
func (f *fakeBackend) SessionEnded(s model.SessionRef) {
	f.mu.Lock()
	f.ended = append(f.ended, s.ID)
	f.mu.Unlock()
}

func startServer(t *testing.T, mod func(*Config)) (*Server, string, *fakeBackend) {
	t.Helper()
	fb := &fakeBackend{}
	cfg := Config{Backend: fb, ReplayLimit: 50}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fb.srv = s
	t.Cleanup(func() { closeServer(t, s) })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, "ws://" + s.Addr(), fb
}

// closeServer closes s with a 5 s bound on the graceful part.
func closeServer(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

type client struct {
	t  *testing.T
	nc net.Conn
	r  io.Reader
}

// dial opens a gateway connection (from the default source address).
func dial(t *testing.T, url string) *client {
	t.Helper()
	return dialFrom(t, url, "")
}

type frame struct {
	Op int             `json:"op"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
	D  json.RawMessage `json:"d"`
}

func (c *client) send(v any) {
	c.t.Helper()
	b, ok := v.([]byte)
	if !ok {
		b, _ = json.Marshal(v)
	}
	if err := wsutil.WriteClientText(c.nc, b); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next frame, or the close code.
func (c *client) read() (frame, int) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, err := wsutil.ReadServerText(struct {
		io.Reader
		io.Writer
	}{c.r, c.nc})
	var ce wsutil.ClosedError
	if errors.As(err, &ce) {
		return frame{}, int(ce.Code)
	}
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("bad frame %s: %v", data, err)
	}
	return f, 0
}

func (c *client) expect(name string) frame {
	c.t.Helper()
	for {
		f, code := c.read()
		if code != 0 {
			c.t.Fatalf("closed %d waiting for %s", code, name)
		}
		if f.T != nil && *f.T == name {
			return f
		}
		if name == fmt.Sprint(f.Op) && f.T == nil {
			return f
		}
	}
}

func (c *client) expectClose() int {
	c.t.Helper()
	for {
		_, code := c.read()
		if code != 0 {
			return code
		}
	}
}

func identifyPayload(token string, intents int) map[string]any {
	return map[string]any{"op": 2, "d": map[string]any{"token": token, "intents": intents, "properties": map[string]string{"os": "linux"}}}
}

func TestIdentifyDispatchResume(t *testing.T) {
	s, url, fb := startServer(t, nil)
	c := dial(t, url+"/?v=10&encoding=json")
	hello := c.expect("10")
	if !strings.Contains(string(hello.D), "heartbeat_interval") {
		t.Fatalf("hello %s", hello.D)
	}
	c.send(identifyPayload("good", int(model.IntentGuilds|model.IntentGuildMessages|model.IntentGuildVoiceStates)))
	ready := c.expect("READY")
	var rd struct {
		SessionID string `json:"session_id"`
		User      struct{ ID string }
		Guilds    []struct{ ID string }
	}
	_ = json.Unmarshal(ready.D, &rd)
	if rd.SessionID == "" || rd.User.ID != "1" || len(rd.Guilds) != 1 || *ready.S != 1 {
		t.Fatalf("READY %s", ready.D)
	}
	if gc := c.expect("GUILD_CREATE"); *gc.S != 2 {
		t.Fatalf("GUILD_CREATE seq %d", *gc.S)
	}
	ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "hi"})
	s.Dispatch(ev)
	if f := c.expect("MESSAGE_CREATE"); *f.S != 3 || !strings.Contains(string(f.D), "hi") {
		t.Fatalf("MESSAGE_CREATE %s", f.D)
	}
	// Intent filtering: no GUILD_MESSAGE_TYPING intent. The marker sent
	// after TYPING_START must be the very next frame.
	typing, _ := model.NewEvent("TYPING_START", testGuild, model.IntentGuildMessageTyping, map[string]string{})
	s.Dispatch(typing)
	marker, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "marker"})
	s.Dispatch(marker)
	if f, code := c.read(); code != 0 || f.T == nil || *f.T != "MESSAGE_CREATE" || *f.S != 4 {
		t.Fatalf("after a filtered TYPING_START: %+v (close %d)", f, code)
	}
	c.send(map[string]any{"op": 1, "d": 4})
	c.expect("11")
	// Voice state update: VOICE_STATE_UPDATE then VOICE_SERVER_UPDATE.
	c.send(map[string]any{"op": 4, "d": map[string]any{"guild_id": "1000", "channel_id": "5", "self_mute": false, "self_deaf": false}})
	vs := c.expect("VOICE_STATE_UPDATE")
	vsu := c.expect("VOICE_SERVER_UPDATE")
	if *vsu.S != *vs.S+1 {
		t.Fatalf("voice order %d %d", *vs.S, *vsu.S)
	}
	fb.mu.Lock()
	voices := fb.voices
	fb.mu.Unlock()
	if len(voices) != 1 || voices[0].ChannelID == nil || *voices[0].ChannelID != 5 {
		t.Fatalf("voices %+v", voices)
	}
	last := *vsu.S
	// Drop the connection abruptly, dispatch while detached, resume.
	c.nc.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 0 }, "dropped connection still counted")
	ev2, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "missed"})
	s.Dispatch(ev2)
	c2 := dial(t, url+"/?v=9&encoding=json")
	c2.expect("10")
	c2.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": rd.SessionID, "seq": last}})
	if f := c2.expect("MESSAGE_CREATE"); *f.S != last+1 || !strings.Contains(string(f.D), "missed") {
		t.Fatalf("replayed %s (s=%d)", f.D, *f.S)
	}
	if f := c2.expect("RESUMED"); *f.S != last+2 {
		t.Fatalf("RESUMED seq %d", *f.S)
	}
	// Resume of an unknown session: op 9 false.
	c3 := dial(t, url)
	c3.expect("10")
	c3.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": "nope", "seq": 1}})
	if f := c3.expect("9"); string(f.D) != "false" {
		t.Fatalf("invalid session d=%s", f.D)
	}
	// Client close 1000 ends the session.
	_ = ws.WriteFrame(c2.nc, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(1000, ""))))
	testkit.Eventually(t, 5*time.Second, func() bool { fb.mu.Lock(); defer fb.mu.Unlock(); return len(fb.ended) == 1 }, "close 1000 did not end the session")
}

// TestJoinGuild: a new member's sessions are subscribed and get the
// guild's GUILD_CREATE; a user without sessions (a registration) costs no
// GUILD_CREATE encoding.
func TestJoinGuild(t *testing.T) {
	s, url, fb := startServer(t, nil)
	creates := func() int {
		fb.mu.Lock()
		defer fb.mu.Unlock()
		return fb.guildCreates
	}
	const other model.Snowflake = 2000
	s.JoinGuild(2, other) // user 2 has no session
	if n := creates(); n != 0 {
		t.Fatalf("GuildCreate called %d times for a user without sessions", n)
	}
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", 1<<9))
	c.expect("GUILD_CREATE")
	before := creates()
	s.JoinGuild(1, other)
	if f := c.expect("GUILD_CREATE"); !strings.Contains(string(f.D), `"id":"2000"`) {
		t.Fatalf("GUILD_CREATE %s", f.D)
	}
	if n := creates() - before; n != 1 {
		t.Fatalf("GuildCreate called %d times for one session", n)
	}
	ev, _ := model.NewEvent("MESSAGE_CREATE", other, model.IntentGuildMessages, map[string]any{"content": "joined"})
	s.Dispatch(ev)
	if f := c.expect("MESSAGE_CREATE"); !strings.Contains(string(f.D), "joined") {
		t.Fatalf("dispatch to the joined guild: %s", f.D)
	}
}

func TestCloseCodes(t *testing.T) {
	_, url, _ := startServer(t, func(c *Config) { c.EventsPerMinute = 5 })
	good := identifyPayload("good", 513)
	tests := []struct {
		name  string
		query string
		send  []any
		want  int
	}{
		{"unknown opcode", "", []any{map[string]any{"op": 99}}, 4001},
		{"malformed json", "", []any{[]byte(`{"op":`)}, 4002},
		{"op not a number", "", []any{[]byte(`{"op":"x"}`)}, 4002},
		{"oversized frame", "", []any{[]byte(`{"op":1,"d":"` + strings.Repeat("a", 5000) + `"}`)}, 4002},
		{"not authenticated", "", []any{map[string]any{"op": 4, "d": map[string]any{"guild_id": "1"}}}, 4003},
		{"bad token", "", []any{identifyPayload("bad", 1)}, 4004},
		{"already authenticated", "", []any{good, good}, 4005},
		{"resume bad seq", "", nil, 0},
		{"rate limited", "", []any{map[string]any{"op": 1}, map[string]any{"op": 1}, map[string]any{"op": 1}, map[string]any{"op": 1}, map[string]any{"op": 1}, map[string]any{"op": 1}}, 4008},
		{"invalid shard", "", []any{map[string]any{"op": 2, "d": map[string]any{"token": "good", "intents": 1, "shard": []int{2, 1}}}}, 4010},
		{"invalid version", "/?v=6", nil, 4012},
		{"invalid intents", "", []any{identifyPayload("good", 1<<30)}, 4013},
		{"missing intents", "", []any{map[string]any{"op": 2, "d": map[string]any{"token": "good"}}}, 4013},
		{"etf encoding", "/?v=10&encoding=etf", nil, 4002},
	}
	for _, tc := range tests {
		if tc.want == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url+tc.query)
			if tc.query == "" {
				c.expect("10")
			}
			for _, m := range tc.send {
				c.send(m)
			}
			if got := c.expectClose(); got != tc.want {
				t.Fatalf("close %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReconnectOnClose(t *testing.T) {
	s, url, _ := startServer(t, nil)
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", 1))
	c.expect("READY")
	go closeServer(t, s)
	c.expect("7")
	if got := c.expectClose(); got != 4000 {
		t.Fatalf("close %d", got)
	}
}

func TestDisallowedIntents(t *testing.T) {
	none := model.Intent(0)
	_, url, _ := startServer(t, func(c *Config) { c.AllowedPrivileged = &none })
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", int(model.IntentMessageContent)))
	if got := c.expectClose(); got != 4014 {
		t.Fatalf("close %d", got)
	}
}

func TestIdentifyFlood(t *testing.T) {
	_, url, _ := startServer(t, func(c *Config) { c.IdentifyBurst = 2; c.IdentifyWindow = time.Minute })
	for i := range 3 {
		c := dial(t, url)
		c.expect("10")
		c.send(identifyPayload("good", 1))
		if i < 2 {
			c.expect("READY")
			continue
		}
		if f := c.expect("9"); string(f.D) != "false" {
			t.Fatalf("flood d=%s", f.D)
		}
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	_, url, _ := startServer(t, func(c *Config) {
		c.HeartbeatInterval = 200 * time.Millisecond
		c.HeartbeatGrace = 100 * time.Millisecond
	})
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", 1))
	c.expect("READY")
	if got := c.expectClose(); got != 4009 {
		t.Fatalf("close %d", got)
	}
}

func TestMessageContentIntent(t *testing.T) {
	s, url, _ := startServer(t, nil)
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", int(model.IntentGuilds|model.IntentGuildMessages)))
	c.expect("GUILD_CREATE")
	s.Dispatch(&model.Event{Name: "MESSAGE_CREATE", GuildID: testGuild, Intent: model.IntentGuildMessages,
		Data: []byte(`{"content":"secret"}`), NoContent: []byte(`{"content":""}`), AuthorID: 2})
	if f := c.expect("MESSAGE_CREATE"); strings.Contains(string(f.D), "secret") {
		t.Fatalf("content leaked without MESSAGE_CONTENT: %s", f.D)
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		in string
		op Opcode
		ok bool
	}{
		{`{"op":1,"d":null}`, 1, true},
		{`{"op":2,"d":{"token":"x"},"s":null,"t":null}`, 2, true},
		{`{"d":1}`, 0, false},
		{`{"op":1.5}`, 0, false},
		{`{"op":1}{"op":2}`, 0, false},
		{`{"op":1}}`, 0, false},
		{`{"op":1}]`, 0, false},
		{`{"op":1} x`, 0, false},
		{" {\"op\":1}\n", 1, true},
		{`{"op":1,"s":7,"t":"X"}`, 1, true},
		{`[]`, 0, false},
		{``, 0, false},
		{`{"op":99999999999}`, 0, false},
	}
	for _, tc := range tests {
		p, err := DecodePayload([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && p.Op != tc.op) {
			t.Errorf("%q: op %d err %v", tc.in, p.Op, err)
		}
		if err != nil && !errors.Is(err, ErrDecode) {
			t.Errorf("%q: error %v is not ErrDecode", tc.in, err)
		}
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{`{"op":1,"d":null}`, `{"op":2,"d":{"token":"x","intents":513,"shard":[0,1]}}`,
		`{"op":6,"d":{"token":"x","session_id":"y","seq":3}}`, `{"op":4,"d":{"guild_id":"1","channel_id":null}}`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePayload(b)
		if err != nil {
			return
		}
		// Accepted means exactly one JSON object carrying that op.
		var obj map[string]json.RawMessage
		if !json.Valid(b) || json.Unmarshal(b, &obj) != nil {
			t.Fatalf("accepted %q, not one JSON object", b)
		}
		// Every op's d decoder must not panic either.
		var id Identify
		_ = json.Unmarshal(p.D, &id)
		var r Resume
		_ = json.Unmarshal(p.D, &r)
		var v model.VoiceStateRequest
		_ = json.Unmarshal(p.D, &v)
	})
}

func BenchmarkAppendDispatch(b *testing.B) {
	data := []byte(`{"id":"1","channel_id":"2","content":"hello world","author":{"id":"3","username":"x"}}`)
	buf := make([]byte, 0, 4096)
	for b.Loop() {
		buf = appendDispatch(buf[:0], "MESSAGE_CREATE", 12345, data)
	}
}

func TestBadFrames(t *testing.T) {
	_, url, _ := startServer(t, nil)
	tests := []struct {
		name  string
		frame ws.Frame
	}{
		{"unmasked", ws.NewTextFrame([]byte(`{"op":1}`))},
		{"binary", ws.MaskFrame(ws.NewBinaryFrame([]byte{0x83, 0x74}))},
		{"fragment", ws.MaskFrame(ws.Frame{Header: ws.Header{Fin: false, OpCode: ws.OpText, Length: 3}, Payload: []byte(`{"o`)})},
		{"not json", ws.MaskFrame(ws.NewTextFrame([]byte("\x00\xff garbage")))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url)
			c.expect("10")
			if err := ws.WriteFrame(c.nc, tc.frame); err != nil {
				t.Fatal(err)
			}
			if got := c.expectClose(); got != 4002 {
				t.Fatalf("close %d", got)
			}
		})
	}
	// Garbage instead of an HTTP upgrade: the server hangs up.
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("\x16\x03\x01garbage\r\n\r\n"))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("server did not hang up: %v", err)
	}
}

// TestZlibStream: with compress=zlib-stream every message is a binary frame
// of one zlib stream that a standard streaming inflater decodes message by
// message, each ending with the sync-flush marker.
func TestZlibStream(t *testing.T) {
	s, url, _ := startServer(t, nil)
	c := dial(t, url+"/?v=10&encoding=json&compress=zlib-stream")
	pr, pw := io.Pipe()
	go func() {
		for {
			_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			h, err := ws.ReadHeader(c.r)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c.r, p); err != nil || h.OpCode != ws.OpBinary || !bytes.HasSuffix(p, []byte{0, 0, 0xff, 0xff}) {
				pw.CloseWithError(fmt.Errorf("frame op %v err %v suffix %x", h.OpCode, err, p[max(0, len(p)-4):]))
				return
			}
			_, _ = pw.Write(p)
		}
	}()
	zr, err := zlib.NewReader(pr)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	next := func() frame {
		var f frame
		if err := dec.Decode(&f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if f := next(); f.Op != 10 {
		t.Fatalf("first %+v", f)
	}
	c.send(identifyPayload("good", int(model.IntentGuilds|model.IntentGuildMessages)))
	if f := next(); *f.T != "READY" {
		t.Fatalf("%+v", f)
	}
	next() // GUILD_CREATE
	ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": strings.Repeat("compress me ", 50)})
	s.Dispatch(ev)
	if f := next(); *f.T != "MESSAGE_CREATE" || !strings.Contains(string(f.D), "compress me") {
		t.Fatalf("%+v", f)
	}
}

func BenchmarkCompressFrames(b *testing.B) {
	src := appendDispatch(nil, "MESSAGE_CREATE", 7, []byte(`{"content":"`+strings.Repeat("hello world ", 40)+`"}`))
	started := true
	var dst []byte
	for b.Loop() {
		dst = compressFrames(dst[:0], src, &started)
	}
}

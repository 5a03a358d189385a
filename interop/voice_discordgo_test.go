package interop

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
)

// fakeMainGateway is the smallest main gateway discordgo v0.29.0 needs to
// reach voice (voice-protocol.md §5.3, chat-gateway.md §1.2): GET /gateway,
// op 10 Hello, READY with the user, heartbeat ACKs, and op 4 answered with
// VOICE_STATE_UPDATE then VOICE_SERVER_UPDATE carrying a real token for the
// Parley voice server.
type fakeMainGateway struct {
	t    *testing.T
	env  *voiceEnv
	user string
	http *httptest.Server

	mu  sync.Mutex // serializes writes and seq
	seq int
}

func newFakeMainGateway(t *testing.T, env *voiceEnv, user string) *fakeMainGateway {
	g := &fakeMainGateway{t: t, env: env, user: user}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v9/gateway", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"url": "ws" + strings.TrimPrefix(g.http.URL, "http") + "/ws"})
	})
	mux.HandleFunc("/ws", g.serveWS)
	mux.HandleFunc("/ws/", g.serveWS) // discordgo appends a slash
	g.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		g.http.CloseClientConnections()
		g.http.Close()
	})
	return g
}

func (g *fakeMainGateway) send(ws *websocket.Conn, op int, typ string, d any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := map[string]any{"op": op, "d": d, "s": nil, "t": nil}
	if op == 0 {
		g.seq++
		m["s"], m["t"] = g.seq, typ
	}
	_ = ws.WriteJSON(m)
}

func (g *fakeMainGateway) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	g.send(ws, 10, "", map[string]any{"heartbeat_interval": 41250})
	for {
		var m struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Op {
		case 1: // heartbeat
			g.send(ws, 11, "", nil)
		case 2: // identify
			g.send(ws, 0, "READY", map[string]any{
				"v":                  9,
				"user":               map[string]any{"id": g.user, "username": "discordgo", "discriminator": "0", "bot": true},
				"session_id":         "main-session",
				"resume_gateway_url": "ws" + strings.TrimPrefix(g.http.URL, "http") + "/ws",
				"guilds":             []any{},
				"private_channels":   []any{},
			})
		case 4: // voice state update
			var d struct {
				GuildID   string  `json:"guild_id"`
				ChannelID *string `json:"channel_id"`
				SelfMute  bool    `json:"self_mute"`
				SelfDeaf  bool    `json:"self_deaf"`
			}
			_ = json.Unmarshal(m.D, &d)
			c := g.env.creds(g.user)
			state := map[string]any{
				"guild_id": d.GuildID, "channel_id": d.ChannelID, "user_id": g.user, "session_id": c.SessionID,
				"deaf": false, "mute": false, "self_deaf": d.SelfDeaf, "self_mute": d.SelfMute, "self_video": false,
				"suppress": false, "request_to_speak_timestamp": nil,
				"member": map[string]any{"user": map[string]any{"id": g.user, "username": "discordgo"}, "roles": []string{}},
			}
			g.send(ws, 0, "VOICE_STATE_UPDATE", state)
			if d.ChannelID != nil {
				g.send(ws, 0, "VOICE_SERVER_UPDATE", map[string]any{"token": c.Token, "guild_id": d.GuildID, "endpoint": c.Endpoint})
			}
		}
	}
}

// discordgoPeer is a discordgo v0.29.0 session joined to voice.
type discordgoPeer struct {
	user string
	s    *discordgo.Session
	vc   *discordgo.VoiceConnection
	got  *frameLog

	mu    sync.Mutex
	ssrcs map[uint32]string // from op 5 (VoiceSpeakingUpdate)
	done  chan struct{}
}

// discordgoEndpointMu guards discordgo's package-level endpoint variables.
var discordgoEndpointMu sync.Mutex

func joinDiscordgo(t *testing.T, env *voiceEnv, user string) *discordgoPeer {
	t.Helper()
	main := newFakeMainGateway(t, env, user)
	discordgoEndpointMu.Lock()
	discordgo.EndpointGateway = main.http.URL + "/api/v9/gateway"
	discordgoEndpointMu.Unlock()
	s, err := discordgo.New("Bot parley-test")
	if err != nil {
		t.Fatal(err)
	}
	s.Dialer = &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: env.pool}, HandshakeTimeout: 10 * time.Second}
	s.ShouldReconnectOnError = false
	s.LogLevel = discordgo.LogWarning
	if err := s.Open(); err != nil {
		t.Fatalf("discordgo open: %v", err)
	}
	p := &discordgoPeer{user: user, s: s, got: newFrameLog(), ssrcs: map[uint32]string{}, done: make(chan struct{})}
	// Create the VoiceConnection ourselves (ChannelVoiceJoin reuses it) so
	// that the handler and the channels exist before discordgo's goroutines
	// read them: AddHandler and the lazy OpusSend/OpusRecv creation are not
	// synchronized with its WebSocket listener (a data race under -race).
	vc := &discordgo.VoiceConnection{
		OpusSend: make(chan []byte, 2),
		OpusRecv: make(chan *discordgo.Packet, 256),
	}
	vc.AddHandler(func(_ *discordgo.VoiceConnection, u *discordgo.VoiceSpeakingUpdate) {
		p.mu.Lock()
		p.ssrcs[uint32(u.SSRC)] = u.UserID
		p.mu.Unlock()
	})
	s.Lock()
	s.VoiceConnections[testGuild] = vc
	s.Unlock()
	if _, err := s.ChannelVoiceJoin(testGuild, testChannel, false, false); err != nil {
		_ = s.Close()
		t.Fatalf("discordgo voice join: %v", err)
	}
	p.vc = vc
	go p.read()
	t.Cleanup(func() {
		_ = vc.Disconnect()
		_ = s.Close()
	})
	return p
}

func (p *discordgoPeer) read() {
	defer close(p.done)
	for pkt := range p.vc.OpusRecv {
		p.got.add("ssrc:"+strconv.FormatUint(uint64(pkt.SSRC), 10), pkt.Opus)
	}
}

// from returns the frames received from user, resolving SSRCs through the
// op 5 announcements discordgo saw.
func (p *discordgoPeer) from(t *testing.T, user string) [][]byte {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	found := false
	for ssrc, u := range p.ssrcs {
		if u == user {
			found = true
			out = append(out, p.got.from("ssrc:"+strconv.FormatUint(uint64(ssrc), 10))...)
		}
	}
	if !found {
		t.Errorf("discordgo never decoded an op 5 Speaking for user %s (ssrcs %v, frames from %v); "+
			"it needs {\"speaking\": true|false} (a bool) without ?v=", user, p.ssrcs, p.got.users())
	}
	return out
}

// play feeds frames to discordgo's opusSender (20 ms ticker), then five
// silence frames, then Speaking off.
func (p *discordgoPeer) play(ctx context.Context, frames [][]byte) error {
	if err := p.vc.Speaking(true); err != nil {
		return err
	}
	all := append(append([][]byte(nil), frames...), ogg.Silence, ogg.Silence, ogg.Silence, ogg.Silence, ogg.Silence)
	for _, f := range all {
		select {
		case p.vc.OpusSend <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// Speaking off once discordgo's sender took the last frames from its
	// 2-slot channel (any still on their way are silence).
	testkit.Poll(time.Second, func() bool { return len(p.vc.OpusSend) == 0 })
	return p.vc.Speaking(false)
}

// TestDiscordgoVoice: discordgo v0.29.0 (legacy dialect, xsalsa20_poly1305,
// found through a fake main gateway) and Parley's Go client exchange audio.
func TestDiscordgoVoice(t *testing.T) {
	env := startVoice(t, true)
	const goUser, dgoUser = "100000000000000021", "100000000000000022"
	goFrames, dgoFrames := ogg.SyntheticOpus(100, 21), ogg.SyntheticOpus(100, 22)
	g := env.joinGoNoDAVE(t, goUser, "")
	d := joinDiscordgo(t, env, dgoUser)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.play(ctx, dgoFrames) }()
	if err := g.conn.PlayFrames(ctx, goFrames); err != nil {
		t.Fatalf("go play: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("discordgo play: %v", err)
	}
	g.got.waitAudio(dgoUser, len(dgoFrames), 3*time.Second)
	testkit.Poll(3*time.Second, func() bool { // the checks below say what is missing
		return len(nonSilence(d.got.from("ssrc:"+strconv.FormatUint(uint64(g.conn.SSRC()), 10)))) >= len(goFrames)
	})
	checkGoFrames(t, "discordgo -> go", g, dgoUser, dgoFrames)
	checkFrames(t, "go -> discordgo", d.from(t, goUser), goFrames)
}

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
)

// chatClient is a user on the chat gateway, in Go: it identifies,
// heartbeats and records every dispatch, so a test can wait for one.
// One goroutine reads (and answers op 1), one heartbeats; both end when
// the test does.
type chatClient struct {
	t  *testing.T
	ws *websocket.Conn

	wmu sync.Mutex // guards writes to ws

	mu         sync.Mutex
	dispatches []chatDispatch // +checklocks:mu
	seq        *int64         // +checklocks:mu

	done chan struct{} // closed when the reader ends
}

// chatDispatch is one op 0 the gateway sent.
type chatDispatch struct {
	T string
	D json.RawMessage
}

// dialChat connects to the plain chat gateway listener as token with
// intents and waits for READY.
func dialChat(t *testing.T, gatewayAddr, token string, intents int) *chatClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+gatewayAddr+"/?v=10&encoding=json", nil)
	if err != nil {
		t.Fatalf("chat gateway: %v", err)
	}
	c := &chatClient{t: t, ws: ws, done: make(chan struct{})}
	var hello struct {
		Op int `json:"op"`
		D  struct {
			HeartbeatInterval int `json:"heartbeat_interval"`
		} `json:"d"`
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.ReadJSON(&hello); err != nil || hello.Op != 10 || hello.D.HeartbeatInterval <= 0 {
		t.Fatalf("chat gateway hello: %+v, %v", hello, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c.send(2, map[string]any{"token": token, "intents": intents, "properties": map[string]string{"os": "linux", "browser": "parley-test", "device": "parley-test"}})
	stop := make(chan struct{})
	beat := make(chan struct{})
	go c.read()
	go func() { // heartbeats until the test ends
		defer close(beat)
		tick := time.NewTicker(time.Duration(hello.D.HeartbeatInterval) * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.mu.Lock()
				seq := c.seq
				c.mu.Unlock()
				c.send(1, seq)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-beat
		_ = ws.Close()
		<-c.done
	})
	c.wait("READY", 10*time.Second, nil)
	return c
}

func (c *chatClient) read() {
	defer close(c.done)
	for {
		var m struct {
			Op int             `json:"op"`
			S  *int64          `json:"s"`
			T  string          `json:"t"`
			D  json.RawMessage `json:"d"`
		}
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Op {
		case 0:
			c.mu.Lock()
			if m.S != nil {
				c.seq = m.S
			}
			c.dispatches = append(c.dispatches, chatDispatch{T: m.T, D: m.D})
			c.mu.Unlock()
		case 1:
			c.mu.Lock()
			seq := c.seq
			c.mu.Unlock()
			c.send(1, seq)
		}
	}
}

// send writes one gateway message; a write after the connection closed
// is ignored (the reader reports the end).
func (c *chatClient) send(op int, d any) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = c.ws.WriteJSON(map[string]any{"op": op, "d": d})
}

// wait returns the first dispatch named name that match accepts (nil:
// any), failing the test after timeout.
func (c *chatClient) wait(name string, timeout time.Duration, match func(json.RawMessage) bool) json.RawMessage {
	c.t.Helper()
	var got json.RawMessage
	testkit.Eventually(c.t, timeout, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.IndexFunc(c.dispatches, func(d chatDispatch) bool { return d.T == name && (match == nil || match(d.D)) })
		if i >= 0 {
			got = c.dispatches[i].D
		}
		return i >= 0
	}, "the chat gateway sends %s", name)
	return got
}

// guild is what the test needs of the seeded guild's GUILD_CREATE.
type guild struct {
	ID       string `json:"id"`
	Channels []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type int    `json:"type"`
	} `json:"channels"`
}

// channel returns the id of the guild's channel named name.
func (g guild) channel(t *testing.T, name string) string {
	t.Helper()
	for _, c := range g.Channels {
		if c.Name == name {
			return c.ID
		}
	}
	t.Fatalf("guild %s has no channel %q: %+v", g.ID, name, g.Channels)
	return ""
}

// joinVoice joins a voice channel through the chat gateway (op 4 → its
// VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE) and connects Parley's Go
// voice client with what they carry (native UDP, DAVE off as the
// browsers), recording what it receives; opts adjust its Config (DAVE on,
// a video callback).
func (c *chatClient) joinVoice(user, guildID, channelID string, srv *parleyServer, opts ...func(*voiceclient.Config)) *goPeer {
	c.t.Helper()
	c.send(4, map[string]any{"guild_id": guildID, "channel_id": channelID, "self_mute": false, "self_deaf": false})
	var state struct {
		SessionID string `json:"session_id"`
	}
	_ = json.Unmarshal(c.wait("VOICE_STATE_UPDATE", 10*time.Second, func(d json.RawMessage) bool {
		return bytes.Contains(d, []byte(`"user_id":"`+user+`"`)) && bytes.Contains(d, []byte(`"channel_id":"`+channelID+`"`))
	}), &state)
	var server struct {
		Token    string `json:"token"`
		Endpoint string `json:"endpoint"`
	}
	_ = json.Unmarshal(c.wait("VOICE_SERVER_UPDATE", 10*time.Second, nil), &server)
	pool, err := srv.dir.CertPool()
	if err != nil {
		c.t.Fatal(err)
	}
	p := &goPeer{user: user, got: newFrameLog()}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cfg := voiceclient.Config{
		Endpoint: server.Endpoint, Token: server.Token, SessionID: state.SessionID, UserID: user,
		GuildID: guildID, ChannelID: channelID, RootCAs: pool, DisableDAVE: true,
		Logger: testLogger(c.t).With("client", "go:"+user),
		OnFrame: func(f voiceclient.Frame) {
			p.got.addFrame(f.UserID, recFrame{ssrc: f.SSRC, seq: f.Seq, ts: f.Timestamp, opus: f.Opus})
		},
		OnEvent: func(e voiceclient.Event) {
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	conn, err := voiceclient.Dial(ctx, cfg)
	if err != nil {
		c.t.Fatalf("go voice client %s (endpoint %s): %v", user, server.Endpoint, err)
	}
	p.conn = conn
	c.t.Cleanup(func() { _ = conn.Close() })
	return p
}

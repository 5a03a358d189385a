package voiceclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/ogg"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// collector gathers frames and events from a Conn.
type collector struct {
	mu     sync.Mutex
	frames []Frame
	events []Event
}

func newCollector() *collector { return &collector{} }

func (c *collector) onFrame(f Frame) {
	f.Opus = append([]byte(nil), f.Opus...)
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
}

func (c *collector) onEvent(e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

// waitFrames waits until n frames arrived and returns all that did.
func (c *collector) waitFrames(t *testing.T, n int, d time.Duration) []Frame {
	t.Helper()
	var got []Frame
	arrived := testkit.Poll(d, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		got = append(got[:0], c.frames...)
		return len(got) >= n
	})
	if !arrived {
		t.Fatalf("received %d frames within %v, want %d", len(got), d, n)
	}
	return got
}

func dialFake(t *testing.T, s *fakeServer, col *collector, mode string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{
		Endpoint: s.endpoint(), Token: "tok", SessionID: "sess", UserID: "u1", GuildID: "g1", ChannelID: "c1",
		RootCAs: s.pool(), Mode: mode, OnFrame: col.onFrame, OnEvent: col.onEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDialPlayEcho(t *testing.T) {
	all := voiceproto.Modes(true)
	tests := []struct {
		name     string
		offered  []string
		force    string
		wantMode string
	}{
		{"best of current", voiceproto.Modes(false), "", voiceproto.ModeAES256GCMRTPSize},
		{"xchacha only", []string{voiceproto.ModeXChaCha20RTPSize}, "", voiceproto.ModeXChaCha20RTPSize},
		{"forced xchacha", all, voiceproto.ModeXChaCha20RTPSize, voiceproto.ModeXChaCha20RTPSize},
		{"legacy xsalsa20", []string{voiceproto.ModeXSalsa20}, "", voiceproto.ModeXSalsa20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, tt.offered)
			s.announceAfter = 3 // the first frames arrive before op 5
			col := newCollector()
			c := dialFake(t, s, col, tt.force)
			if c.Mode() != tt.wantMode || c.SSRC() != 77 {
				t.Fatalf("mode %q ssrc %d", c.Mode(), c.SSRC())
			}
			frames := ogg.SyntheticOpus(15, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.PlayFrames(ctx, frames); err != nil {
				t.Fatal(err)
			}
			got := col.waitFrames(t, len(frames)+SilenceFrames, 3*time.Second)
			for i, f := range got {
				want := ogg.Silence
				if i < len(frames) {
					want = frames[i]
				}
				if !bytes.Equal(f.Opus, want) || f.UserID != "echo" || f.SSRC != echoSSRC {
					t.Fatalf("frame %d: user %q ssrc %d % x", i, f.UserID, f.SSRC, f.Opus[:3])
				}
				if i > 0 && (f.Seq != got[i-1].Seq+1 || f.Timestamp != got[i-1].Timestamp+960) {
					t.Fatalf("frame %d: seq/ts not advancing by 1/960", i)
				}
			}
			st := c.Stats()
			// The 3 frames echoed before op 5 was written are usually early,
			// but not always: the client's UDP and WebSocket readers race, so
			// op 5 can be handled before the echo that preceded it (CI saw 2).
			// Every frame above was attributed to "echo" either way, early or
			// not; at most the played frames can be early.
			if st.FramesSent != 20 || st.FramesReceived != 20 || st.DecryptErrors != 0 || st.EarlyFrames > uint64(len(frames)) {
				t.Fatalf("stats %+v", st)
			}
			var sp []json.RawMessage
			var path string
			testkit.Poll(2*time.Second, func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				sp = append(sp[:0], s.speaking...)
				path = s.paths[0]
				return len(sp) >= 2
			})
			if len(sp) != 2 || !strings.Contains(string(sp[0]), `"speaking":1`) || !strings.Contains(string(sp[1]), `"speaking":0`) {
				t.Fatalf("speaking messages %s", sp)
			}
			if !strings.Contains(path, "v=8") {
				t.Fatalf("gateway path %q", path)
			}
			if m := c.Members(); len(m) != 1 || m[0] != "echo" {
				t.Fatalf("members %v", m)
			}
		})
	}
}

func TestNoSupportedMode(t *testing.T) {
	s := newFakeServer(t, []string{"something_new"})
	_, err := Dial(context.Background(), Config{
		Endpoint: s.endpoint(), Token: "t", SessionID: "s", UserID: "u", GuildID: "g", RootCAs: s.pool(),
	})
	if !errors.Is(err, ErrNoMode) {
		t.Fatalf("err = %v", err)
	}
}

// TestHeartbeats: the client heartbeats at the interval from Hello (the
// fake's 100 ms) and measures the round trip from the ACKs. Three
// heartbeats take 300 ms; the bound is 5x that, so a client on the
// default 13.75 s interval fails.
func TestHeartbeats(t *testing.T) {
	s := newFakeServer(t, voiceproto.Modes(false))
	c := dialFake(t, s, newCollector(), "")
	beats := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.heartbeats
	}
	if !testkit.Poll(1500*time.Millisecond, func() bool { return beats() >= 3 && c.Stats().HeartbeatRTT > 0 }) {
		t.Fatalf("%d heartbeats within 1.5 s at 100 ms (want 3), heartbeat RTT %v", beats(), c.Stats().HeartbeatRTT)
	}
}

func TestResumeAfterDrop(t *testing.T) {
	t.Run("server side", func(t *testing.T) { testResume(t, false) })
	t.Run("client side", func(t *testing.T) { testResume(t, true) })
}

func testResume(t *testing.T, drop bool) {
	s := newFakeServer(t, voiceproto.Modes(false))
	col := newCollector()
	c := dialFake(t, s, col, "")
	if err := c.SendOpus(ogg.SyntheticOpus(1, 5)[0]); err != nil {
		t.Fatal(err)
	}
	col.waitFrames(t, 1, 2*time.Second)
	if drop {
		c.DropGateway()
	} else {
		_ = s.lastWS().Close() // abrupt: the client sees 1006
	}
	testkit.Eventually(t, 3*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.resumes) > 0
	}, "no resume")
	s.mu.Lock()
	r, ids := s.resumes[0], s.identifies
	s.mu.Unlock()
	if r.SessionID != "sess" || r.ServerID != "g1" || r.Token != "tok" || r.SeqAck == nil || *r.SeqAck < 3 || ids != 1 {
		t.Fatalf("resume %+v after %d identifies", r, ids)
	}
	// The gateway works again (op 5 goes over the new socket) and so does media.
	if err := c.Speaking(false); err != nil {
		t.Fatal(err)
	}
	if err := c.SendOpus(ogg.SyntheticOpus(2, 5)[1]); err != nil {
		t.Fatal(err)
	}
	col.waitFrames(t, 2, 2*time.Second)
	waitEvent(t, col, EventResumed)
	select {
	case <-c.Done():
		t.Fatalf("conn ended: %v", c.Err())
	default:
	}
}

func waitEvent(t *testing.T, col *collector, typ string) {
	t.Helper()
	testkit.Eventually(t, 2*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return slices.ContainsFunc(col.events, func(e Event) bool { return e.Type == typ })
	}, "no %s event", typ)
}

func TestFatalClose(t *testing.T) {
	s := newFakeServer(t, voiceproto.Modes(false))
	c := dialFake(t, s, newCollector(), "")
	ws := s.lastWS()
	s.wmu.Lock()
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4014, "kicked"))
	s.wmu.Unlock()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("conn did not end")
	}
	var ce *CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != 4014 || !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	if err := c.Close(); !errors.As(err, &ce) {
		t.Fatalf("Close = %v", err)
	}
	if err := c.SendOpus(ogg.Silence); !errors.Is(err, ErrClosed) {
		t.Fatalf("SendOpus after close = %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.resumes) != 0 {
		t.Fatal("resumed after 4014")
	}
}

func TestPlayOggAndRecorder(t *testing.T) {
	s := newFakeServer(t, voiceproto.Modes(false))
	dir := t.TempDir()
	rec, err := NewRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{
		Endpoint: s.endpoint(), Token: "t", SessionID: "s", UserID: "u", GuildID: "g", RootCAs: s.pool(),
		OnFrame: func(f Frame) { rec.OnFrame(f); col.onFrame(f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frames := ogg.SyntheticOpus(10, 9)
	in := filepath.Join(dir, "in.ogg.src")
	if err := ogg.WriteFile(in, frames); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(in)
	defer f.Close()
	if err := c.PlayOgg(ctx, f); err != nil {
		t.Fatal(err)
	}
	col.waitFrames(t, 15, 3*time.Second)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ogg.ReadFile(filepath.Join(dir, "echo.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 15 {
		t.Fatalf("recorded %d frames", len(got))
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("recorded frame %d differs", i)
		}
	}
}

func TestPlayCancel(t *testing.T) {
	s := newFakeServer(t, voiceproto.Modes(false))
	c := dialFake(t, s, newCollector(), "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.PlayFrames(ctx, ogg.SyntheticOpus(500, 1))
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	// 100 ms hold 5 frames at 20 ms; a paced player sends a few, not the
	// 500 (the bound is 5x, and no lower bound beyond "it played").
	n := c.Stats().FramesSent
	if n < 1 || n > 25 {
		t.Fatalf("sent %d frames in 100 ms", n)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Endpoint: "h:1", Token: "t", SessionID: "s", UserID: "u", GuildID: "g"}
	tests := []struct {
		name string
		mut  func(*Config)
		ok   bool
	}{
		{"valid", func(*Config) {}, true},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, false},
		{"no token", func(c *Config) { c.Token = "" }, false},
		{"no guild", func(c *Config) { c.GuildID = "" }, false},
		{"bad mode", func(c *Config) { c.Mode = "rot13" }, false},
		{"good mode", func(c *Config) { c.Mode = voiceproto.ModeXSalsa20 }, true},
		{"bad report addr", func(c *Config) { c.ReportAddr = "nope" }, false},
		{"report addr", func(c *Config) { c.ReportAddr = "192.0.2.1:9" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mut(&c)
			err := c.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestGatewayURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"127.0.0.1:8443", "wss://127.0.0.1:8443/?v=8"},
		{"127.0.0.1:8443/voice", "wss://127.0.0.1:8443/voice?v=8"},
		{"ws://h:1/x?v=4", "ws://h:1/x?v=8"},
	}
	for _, tt := range tests {
		if got, err := gatewayURL(tt.in); err != nil || got != tt.want {
			t.Errorf("gatewayURL(%q) = %q, %v", tt.in, got, err)
		}
	}
	if _, err := gatewayURL("http://h:1"); !errors.Is(err, ErrConfig) {
		t.Errorf("http scheme: %v", err)
	}
}

func TestPickMode(t *testing.T) {
	m, err := pickMode([]string{voiceproto.ModeXChaCha20RTPSize, voiceproto.ModeAES256GCMRTPSize}, "")
	if err != nil || m != voiceproto.ModeAES256GCMRTPSize {
		t.Fatalf("%q %v", m, err)
	}
	if _, err := pickMode([]string{voiceproto.ModeXChaCha20RTPSize}, voiceproto.ModeAES256GCMRTPSize); !errors.Is(err, ErrNoMode) {
		t.Fatalf("forced missing mode: %v", err)
	}
}

// newBareConn is a Conn that was never dialed, for feeding handle().
func newBareConn(onFrame func(Frame)) *Conn {
	return &Conn{
		cfg: Config{OnFrame: onFrame}, log: discardLogger(),
		hbReset: make(chan time.Duration, 1), helloCh: make(chan voiceproto.Hello, 1),
		readyCh: make(chan voiceproto.Ready, 1), sdCh: make(chan voiceproto.SessionDescription, 1),
		users: map[uint32]string{}, members: map[string]struct{}{}, pending: map[uint32][]pendingFrame{}, daveQueue: map[uint64][]Frame{},
		closing: make(chan struct{}),
	}
}

func TestHandleSpeakingFlushesPending(t *testing.T) {
	var got []Frame
	c := newBareConn(func(f Frame) { f.Opus = append([]byte(nil), f.Opus...); got = append(got, f) })
	buf := []byte{1, 2, 3}
	c.deliver(Frame{SSRC: 5, Seq: 1, Opus: buf})
	buf[0] = 9 // the held frame must be a copy
	c.deliver(Frame{SSRC: 5, Seq: 2, Opus: buf})
	if len(got) != 0 {
		t.Fatal("delivered before op 5")
	}
	c.handle([]byte(`{"op":5,"d":{"user_id":123,"ssrc":5,"speaking":true},"seq":4}`))
	c.deliver(Frame{SSRC: 5, Seq: 3, Opus: buf})
	if len(got) != 3 || got[0].UserID != "123" || got[0].Opus[0] != 1 || got[2].Seq != 3 {
		t.Fatalf("got %+v", got)
	}
	if c.seq.Load() != 4 {
		t.Fatalf("seq %d", c.seq.Load())
	}
	c.handle([]byte(`{"op":13,"d":{"user_id":"123"}}`))
	if _, ok := c.UserForSSRC(5); ok {
		t.Fatal("mapping kept after client disconnect")
	}
}

func FuzzHandle(f *testing.F) {
	f.Add([]byte(`{"op":5,"d":{"user_id":"1","ssrc":5,"speaking":1},"seq":1}`))
	f.Add([]byte(`{"op":11,"d":{"user_ids":["1","2"]}}`))
	f.Add([]byte(`{"op":6,"d":{"t":123}}`))
	f.Add([]byte(`{"op":6,"d":123}`))
	f.Add([]byte(`{"op":8,"d":{"heartbeat_interval":13750.5}}`))
	f.Add([]byte(`{"op":4,"d":{"mode":"x","secret_key":[1,2]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newBareConn(nil)
		c.handle(b)
		c.deliver(Frame{SSRC: 5, Opus: []byte{1}})
	})
}

// TestCloseHandshake: Close sends a close frame with 1000 and keeps the
// connection open until the server answers it (so the server reads the
// close and ends the session rather than keeping it for a resume), but
// not longer than closeWait.
func TestCloseHandshake(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration // before the server answers the close frame
	}{
		{"server answers", 200 * time.Millisecond},
		{"server silent", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeServer(t, voiceproto.Modes(false))
			s.closeDelay = tt.delay
			c := dialFake(t, s, newCollector(), "")
			start := time.Now()
			if err := c.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			took := time.Since(start)
			if took > closeWait+500*time.Millisecond {
				t.Fatalf("Close took %v", took)
			}
			var code int
			var echo, eof time.Time
			seen := testkit.Poll(3*time.Second, func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				code, echo, eof = s.closeCode, s.echoAt, s.eofAt
				return !eof.IsZero() && (tt.delay > closeWait || !echo.IsZero())
			})
			if !seen {
				t.Fatalf("server saw close code %d, answer %v, EOF %v", code, echo, eof)
			}
			if code != websocket.CloseNormalClosure {
				t.Fatalf("close code %d, want 1000", code)
			}
			if tt.delay < closeWait && eof.Before(echo) {
				t.Fatalf("client closed the connection %v before the server answered its close frame", echo.Sub(eof))
			}
			if tt.delay > closeWait && took < closeWait {
				t.Fatalf("Close returned after %v without an answer", took)
			}
		})
	}
}

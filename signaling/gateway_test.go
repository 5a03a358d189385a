package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/signaling"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
)

type harness struct {
	t       *testing.T
	srv     *voicenodetest.Node
	metrics *prometheus.Registry // the node's
}

// newHarness starts a voice node with gateway config gw (one UDP reader)
// and checks, when the test ends, that closing it left no goroutine.
func newHarness(t *testing.T, gw signaling.Config) *harness {
	t.Helper()
	testkit.NoLeaks(t)
	reg := prometheus.NewRegistry()
	srv := voicenodetest.Start(t, voicenode.Config{LegacyModes: true, Gateway: gw, Readers: 1, Metrics: reg})
	return &harness{t: t, srv: srv, metrics: reg}
}

// waitConns waits until the gateway has n open connections: after a
// client drops its connection, the server has detached the session (it
// awaits a resume) once the count fell.
func (h *harness) waitConns(t *testing.T, n int) {
	t.Helper()
	got := -1
	testkit.Eventually(t, 5*time.Second, func() bool {
		got = h.gauge(t, "parley_voice_gateway_connections")
		return got == n
	}, "%d gateway connections, want %d", &got, n)
}

// gauge reads a gauge without labels from the node's metrics.
func (h *harness) gauge(t *testing.T, name string) int {
	t.Helper()
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
	c  voicetoken.Claims
	tk string
}

func (h *harness) dial(query string) *client {
	h.t.Helper()
	ws, _, err := h.srv.Dialer().Dial("wss://"+h.srv.GatewayAddr()+"/"+query, nil)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	h.t.Cleanup(func() { ws.Close() })
	return &client{t: h.t, ws: ws}
}

func (h *harness) creds(user, channel string) (voicetoken.Claims, string) {
	return h.srv.Signer.IssueFor(user, "g1", channel, time.Minute, time.Now())
}

func (c *client) send(op int, d any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(map[string]any{"op": op, "d": d}); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) identify(h *harness, user, channel string) {
	c.c, c.tk = h.creds(user, channel)
	c.send(0, map[string]any{"server_id": "g1", "user_id": user, "session_id": c.c.SessionID, "token": c.tk})
}

type msg struct {
	Op  int             `json:"op"`
	D   json.RawMessage `json:"d"`
	Seq *int64          `json:"seq"`
}

// next reads messages until one with op arrives.
func (c *client) next(op int) msg {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m msg
		if err := c.ws.ReadJSON(&m); err != nil {
			c.t.Fatalf("waiting for op %d: %v", op, err)
		}
		if m.Op == op {
			return m
		}
	}
}

// closeCode reads until the connection closes and returns the code.
func (c *client) closeCode() int {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		c.t.Fatalf("expected a close frame, got %v", err)
	}
}

func TestCloseCodes(t *testing.T) {
	h := newHarness(t, signaling.Config{RateBurst: 8, RatePerSecond: 0.001, MaxMessageBytes: 1024})
	tests := []struct {
		name string
		do   func(c *client)
		want int
	}{
		{"unknown opcode", func(c *client) { c.identify(h, "u1", "c1"); c.next(2); c.send(99, nil) }, 4001},
		{"undecodable", func(c *client) { _ = c.ws.WriteMessage(websocket.TextMessage, []byte("{nope")) }, 4002},
		{"oversized frame", func(c *client) {
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{"op":3,"d":"`+strings.Repeat("x", 2000)+`"}`))
		}, 4002},
		{"not authenticated", func(c *client) { c.send(1, map[string]any{"protocol": "udp"}) }, 4003},
		{"bad token", func(c *client) {
			c.send(0, map[string]any{"server_id": "g1", "user_id": "u1", "session_id": "s", "token": "pv1.bogus.sig"})
		}, 4004},
		{"token for another user", func(c *client) {
			cl, tk := h.creds("u2", "c1")
			c.send(0, map[string]any{"server_id": "g1", "user_id": "u1", "session_id": cl.SessionID, "token": tk})
		}, 4004},
		{"already authenticated", func(c *client) { c.identify(h, "u3", "c1"); c.next(2); c.identify(h, "u3", "c1") }, 4005},
		{"unknown session on resume", func(c *client) {
			c.send(7, map[string]any{"server_id": "g1", "session_id": "nope", "token": "x"})
		}, 4006},
		{"unknown protocol", func(c *client) {
			c.identify(h, "u4", "c1")
			c.next(2)
			c.send(1, map[string]any{"protocol": "webrtc", "data": map[string]any{"mode": "aead_aes256_gcm_rtpsize"}})
		}, 4012},
		{"unknown encryption mode", func(c *client) {
			c.identify(h, "u5", "c1")
			c.next(2)
			c.send(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": "rot13"}})
		}, 4016},
		{"rate limited", func(c *client) {
			for i := 0; i < 20; i++ {
				if c.ws.WriteJSON(map[string]any{"op": 3, "d": i}) != nil {
					break // the server already closed
				}
			}
		}, 4021},
		{"bad speaking", func(c *client) { c.identify(h, "u6", "c1"); c.next(2); c.send(5, map[string]any{"speaking": "loud"}) }, 4002},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial("?v=8")
			c.t = t
			c.next(8)
			tc.do(c)
			if got := c.closeCode(); got != tc.want {
				t.Fatalf("close code %d, want %d", got, tc.want)
			}
		})
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	h := newHarness(t, signaling.Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond})
	c := h.dial("?v=8")
	c.identify(h, "u1", "c1")
	c.next(2)
	if got := c.closeCode(); got != 4009 {
		t.Fatalf("close code %d, want 4009", got)
	}
}

func TestBadVersion(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	_, resp, err := h.srv.Dialer().Dial("wss://"+h.srv.GatewayAddr()+"/?v=99", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("v=99: err %v resp %v, want HTTP 400", err, resp)
	}
}

func TestDialects(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	tests := []struct {
		query       string
		heartbeat   any
		wantAck     string
		wantSeq     bool
		wantSpeakTo string // how a peer in this dialect sees speaking
	}{
		{"?v=8", map[string]any{"t": 1712345678901, "seq_ack": 1}, `{"t":1712345678901}`, true, `1`},
		{"?v=4", 12345, `12345`, false, `1`},
		{"", 1700000000, `1700000000`, false, `true`},
	}
	for i, tc := range tests {
		t.Run("v="+tc.query, func(t *testing.T) {
			c := h.dial(tc.query)
			c.t = t
			hello := c.next(8)
			if !strings.Contains(string(hello.D), "heartbeat_interval") {
				t.Fatalf("hello %s", hello.D)
			}
			c.identify(h, fmt.Sprintf("d%d", i), "dialects")
			ready := c.next(2)
			var rd struct {
				SSRC              uint32   `json:"ssrc"`
				IP                string   `json:"ip"`
				Port              int      `json:"port"`
				Modes             []string `json:"modes"`
				HeartbeatInterval float64  `json:"heartbeat_interval"`
			}
			if err := json.Unmarshal(ready.D, &rd); err != nil || rd.SSRC == 0 || rd.IP != "127.0.0.1" || rd.Port == 0 || rd.HeartbeatInterval == 0 || len(rd.Modes) == 0 {
				t.Fatalf("ready %s (%v)", ready.D, err)
			}
			if (ready.Seq != nil) != tc.wantSeq {
				t.Fatalf("ready seq present=%v, want %v", ready.Seq != nil, tc.wantSeq)
			}
			c.send(3, tc.heartbeat)
			ack := c.next(6)
			if string(ack.D) != tc.wantAck {
				t.Fatalf("ack d=%s, want %s", ack.D, tc.wantAck)
			}
			c.send(1, map[string]any{"protocol": "udp", "data": map[string]any{"address": "127.0.0.1", "port": 1, "mode": rd.Modes[0]}})
			sd := c.next(4)
			var desc struct {
				Mode      string `json:"mode"`
				SecretKey []int  `json:"secret_key"`
			}
			if err := json.Unmarshal(sd.D, &desc); err != nil || desc.Mode != rd.Modes[0] || len(desc.SecretKey) != 32 {
				t.Fatalf("session description %s", sd.D)
			}
			// A v8 peer speaks; this client sees it in its own dialect.
			p := h.dial("?v=8")
			p.t = t
			p.next(8)
			p.identify(h, fmt.Sprintf("peer%d", i), "dialects")
			p.next(2)
			p.send(5, map[string]any{"speaking": 1, "delay": 0, "ssrc": 1})
			for {
				sp := c.next(5)
				var s struct {
					UserID   string          `json:"user_id"`
					Speaking json.RawMessage `json:"speaking"`
				}
				_ = json.Unmarshal(sp.D, &s)
				if s.UserID == fmt.Sprintf("peer%d", i) && string(s.Speaking) == tc.wantSpeakTo {
					break
				}
			}
			p.ws.Close()
			c.ws.Close()
		})
	}
}

func TestResumeReplaysMissedMessages(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	a := h.dial("?v=8")
	a.next(8)
	a.identify(h, "alice", "c1")
	ready := a.next(2)
	// Drop the connection without a close frame, as a network failure would.
	a.ws.UnderlyingConn().Close()
	h.waitConns(t, 0)

	b := h.dial("?v=8")
	b.next(8)
	b.identify(h, "bob", "c1")
	b.next(2)
	b.send(5, map[string]any{"speaking": 1, "delay": 0})
	// bob's own heartbeat ACK comes after his speaking update was handled,
	// so alice's session holds it by then.
	b.send(3, map[string]any{"t": 77, "seq_ack": 0})
	b.next(6)

	// Resume acking only Ready: the connect and speaking events about bob
	// must be re-delivered.
	r := h.dial("?v=8")
	r.next(8)
	r.send(7, map[string]any{"server_id": "g1", "session_id": a.c.SessionID, "token": a.tk, "seq_ack": *ready.Seq})
	got := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for !(got[9] && got[11] && got[5]) && time.Now().Before(deadline) {
		var m msg
		_ = r.ws.SetReadDeadline(deadline)
		if err := r.ws.ReadJSON(&m); err != nil {
			t.Fatalf("after resume: %v (got %v)", err, got)
		}
		if m.Op != 9 && m.Seq != nil && *m.Seq <= *ready.Seq {
			t.Fatalf("re-delivered seq %d <= acked %d", *m.Seq, *ready.Seq)
		}
		got[m.Op] = true
	}
	if !(got[9] && got[11] && got[5]) {
		t.Fatalf("after resume got ops %v, want 9, 11 and 5", got)
	}
}

func TestServerShutdownSendsCloseFrame(t *testing.T) {
	h := newHarness(t, signaling.Config{})
	c := h.dial("?v=8")
	c.next(8)
	c.identify(h, "u1", "c1")
	c.next(2)
	done := make(chan int, 1)
	go func() { done <- c.closeCode() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != 1001 {
		t.Fatalf("close code %d, want 1001", got)
	}
}

// TestResumeReplaysAFullBuffer: a resume that replays as many messages as
// the replay buffer holds (here 4x a connection's queue) delivers them
// all, then op 9, and does not trip the "client too slow" close (the
// replay used to go through the bounded queue under the session lock).
// Alice reads each of bob's speaking changes before he sends the next, so
// none are coalesced and she is sent more numbered messages than the
// buffer keeps; then her connection fails and she resumes from Ready.
func TestResumeReplaysAFullBuffer(t *testing.T) {
	const buffer = 1024
	h := newHarness(t, signaling.Config{RateBurst: 2000, RatePerSecond: 1000, ReplayBuffer: buffer})
	a := h.dial("?v=8")
	a.next(8)
	a.identify(h, "alice", "c1")
	ready := a.next(2)

	b := h.dial("?v=8")
	b.next(8)
	b.identify(h, "bob", "c1")
	b.next(2)
	last := *ready.Seq
	for i := 0; last-*ready.Seq <= buffer+100; i++ {
		b.send(5, map[string]any{"speaking": i % 2, "delay": 0})
		last = *a.next(5).Seq
	}
	a.ws.UnderlyingConn().Close() // a network failure: the session waits for a resume
	h.waitConns(t, 1)

	r := h.dial("?v=8")
	r.next(8)
	r.send(7, map[string]any{"server_id": "g1", "session_id": a.c.SessionID, "token": a.tk, "seq_ack": *ready.Seq})
	var replayed []int64
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m msg
		if err := r.ws.ReadJSON(&m); err != nil {
			t.Fatalf("after %d replayed messages: %v", len(replayed), err)
		}
		if m.Op == 9 {
			break
		}
		if m.Seq == nil {
			t.Fatalf("replayed op %d without seq", m.Op)
		}
		replayed = append(replayed, *m.Seq)
	}
	if len(replayed) != buffer {
		t.Fatalf("replayed %d messages, want the %d the buffer holds", len(replayed), buffer)
	}
	for i := 1; i < len(replayed); i++ {
		if replayed[i] != replayed[i-1]+1 {
			t.Fatalf("replay not in order: seq %d after %d", replayed[i], replayed[i-1])
		}
	}
}

// TestClientChosenLabelsAreBounded: unauthenticated clients sending
// opcodes of their choice do not create metric series of their choice:
// every label value a client can influence comes from a closed set.
func TestClientChosenLabelsAreBounded(t *testing.T) {
	testkit.NoLeaks(t)
	reg := prometheus.NewRegistry()
	srv := voicenodetest.Start(t, voicenode.Config{Metrics: reg, Readers: 1})
	h := &harness{t: t, srv: srv}
	for i := range 40 {
		c := h.dial("?v=8")
		c.next(8)
		c.send(1000+i*7919, nil)
		c.closeCode()
		_ = c.ws.Close()
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "parley_voice_gateway_messages_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" && strings.HasPrefix(l.GetValue(), "op_") {
					t.Fatalf("client-chosen label value %q", l.GetValue())
				}
			}
		}
		if n := len(f.GetMetric()); n > 2 {
			t.Fatalf("%d series after 40 distinct unknown opcodes, want at most 2", n)
		}
		return
	}
	t.Fatal("no messages_total series at all")
}

// TestWebRTCSelectProtocol: the webrtc dialect of op 1 gets its answer in
// op 4 (no mode or key), and a bad offer its close code: 4020 for a
// malformed fragment or no Opus, 4012 from a node without WebRTC.
func TestWebRTCSelectProtocol(t *testing.T) {
	testkit.NoLeaks(t)
	srv := voicenodetest.Start(t, voicenode.Config{WebRTCAddr: "127.0.0.1:0", Readers: 1})
	h := &harness{t: t, srv: srv}
	good := "a=ice-ufrag:abcd\na=ice-pwd:0123456789012345678901\na=fingerprint:sha-256 " +
		strings.TrimSuffix(strings.Repeat("AB:", 32), ":") + "\na=rtpmap:111 opus/48000/2\n"
	opus := []map[string]any{{"name": "opus", "type": "audio", "priority": 1000, "payload_type": 111}}
	c := h.dial("?v=8")
	c.next(8)
	c.identify(h, "u1", "c1")
	c.next(2)
	c.send(1, map[string]any{"protocol": "webrtc", "data": good, "sdp": good, "codecs": opus, "rtc_connection_id": "x"})
	var sd struct {
		AudioCodec string  `json:"audio_codec"`
		SDP        string  `json:"sdp"`
		Mode       *string `json:"mode"`
		SecretKey  []int   `json:"secret_key"`
	}
	_ = json.Unmarshal(c.next(4).D, &sd)
	if sd.AudioCodec != "opus" || !strings.Contains(sd.SDP, "a=ice-ufrag:") || sd.Mode != nil || sd.SecretKey != nil {
		t.Fatalf("webrtc session description %+v", sd)
	}
	for name, tc := range map[string]struct {
		data   string
		codecs any
	}{
		"malformed fragment": {"a=ice-ufrag:abcd\n", opus},
		"no opus":            {strings.Replace(good, "opus", "PCMU", 1), []map[string]any{{"name": "VP8", "type": "video", "payload_type": 96}}},
	} {
		c := h.dial("?v=8")
		c.t = t
		c.next(8)
		c.identify(h, "u-"+strings.ReplaceAll(name, " ", ""), "c1")
		c.next(2)
		c.send(1, map[string]any{"protocol": "webrtc", "data": tc.data, "codecs": tc.codecs})
		if code := c.closeCode(); code != 4020 {
			t.Errorf("%s: close %d, want 4020", name, code)
		}
	}
}

package interop

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceproto"
)

// TestBrowserVoiceConnect: voice.js's connect() settles, in a real
// Chromium, whatever the gateway does: it rejects after maxAttempts
// connections to a closed port or to a gateway whose certificate the
// browser does not trust (both only close 1006), at once for an endpoint
// the WebSocket refuses or media that cannot be set up (the gateway sees
// close 1000 'media setup failed'); and a Select Protocol lost with a
// dropped connection is sent again after the resume, so connect()
// resolves. The gateway is a fake (fakeGateway) on a certificate the
// browser trusts.
func TestBrowserVoiceConnect(t *testing.T) {
	testkit.NoLeaks(t)
	dir, err := datadir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := dir.TLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	page := startBrowser(t, dir.CertPath())

	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}()
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler()) // on httptest's own certificate
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0)           // the refused handshakes
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	answer := voiceproto.Answer{Addr: netip.MustParseAddrPort("127.0.0.1:9"), ICEUfrag: voiceproto.RandomICE(8),
		ICEPwd: voiceproto.RandomICE(24), Fingerprint: voiceproto.Fingerprint{Algorithm: "sha-256", Value: make([]byte, 32)}}

	for _, tc := range []struct {
		name string
		// endpoint is where to connect; "" for a fake gateway answering
		// Select Protocol with onSelect.
		endpoint string
		onSelect func(conn int, ws *websocket.Conn)
		opts     map[string]any
		check    func(t *testing.T, o connectOutcome, gw *fakeGateway)
	}{{
		name: "closed port", endpoint: closedPort, opts: map[string]any{"maxAttempts": 3},
		check: func(t *testing.T, o connectOutcome, _ *fakeGateway) {
			giveUp(t, o, 3)
		},
	}, {
		name: "untrusted certificate", endpoint: strings.TrimPrefix(untrusted.URL, "https://"),
		check: func(t *testing.T, o connectOutcome, _ *fakeGateway) {
			giveUp(t, o, 5) // the default maxAttempts
		},
	}, {
		name: "malformed endpoint", endpoint: "[::1",
		check: func(t *testing.T, o connectOutcome, _ *fakeGateway) {
			if o.OK || !strings.Contains(o.Error, "cannot open") || o.State != "closed" || len(o.Closes) != 0 {
				t.Errorf("got %+v, want a rejection (cannot open), state closed, no close", o)
			}
		},
	}, {
		name: "media setup fails", opts: map[string]any{"rtcConfig": map[string]any{"iceServers": []any{map[string]any{"urls": "bogus:x"}}}},
		check: func(t *testing.T, o connectOutcome, gw *fakeGateway) { setupFailed(t, o, gw) },
	}, {
		name: "bad answer",
		onSelect: func(_ int, ws *websocket.Conn) {
			_ = ws.WriteJSON(voiceproto.Message{Op: voiceproto.OpSessionDescription, D: map[string]any{"sdp": "m=audio 1 ICE/SDP\n"}})
		},
		check: func(t *testing.T, o connectOutcome, gw *fakeGateway) {
			setupFailed(t, o, gw)
			if n := gw.count(voiceproto.OpSelectProtocol); n != 1 {
				t.Errorf("the gateway got %d Select Protocol messages, want 1", n)
			}
		},
	}, {
		// The connection drops right after Select Protocol arrived,
		// before its answer: voice.js resumes and sends it again.
		name: "select protocol lost",
		onSelect: func(conn int, ws *websocket.Conn) {
			if conn == 1 {
				_ = ws.UnderlyingConn().Close()
				return
			}
			_ = ws.WriteJSON(voiceproto.Message{Op: voiceproto.OpSessionDescription, D: map[string]any{"sdp": answer.String()}})
		},
		check: func(t *testing.T, o connectOutcome, gw *fakeGateway) {
			if !o.OK || o.State != "connected" || len(o.Closes) != 1 || o.Closes[0].Code != 1006 || o.Closes[0].Reconnect != "resume" {
				t.Errorf("got %+v, want connected after one close 1006, resumed", o)
			}
			if s, r := gw.count(voiceproto.OpSelectProtocol), gw.count(voiceproto.OpResume); s != 2 || r != 1 {
				t.Errorf("the gateway got %d Select Protocol and %d Resume messages, want 2 and 1", s, r)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			page := page.in(t)
			opts := map[string]any{"endpoint": tc.endpoint, "maxDelay": 250}
			var gw *fakeGateway
			if tc.endpoint == "" {
				gw = startFakeGateway(t, tlsCfg, tc.onSelect)
				opts["endpoint"] = gw.addr()
			}
			for k, v := range tc.opts {
				opts[k] = v
			}
			b, _ := json.Marshal(opts)
			o := eval[connectOutcome](page, 20*time.Second, `harness.tryConnect(`+string(b)+`)`)
			t.Logf("connect: %+v", o)
			tc.check(t, o, gw)
		})
	}

	// A userId that is not a string is refused at once.
	t.Run("numeric user id", func(t *testing.T) {
		page := page.in(t)
		o := eval[connectOutcome](page, 5*time.Second, `harness.tryConnect({endpoint: "127.0.0.1:1", userId: 2})`)
		if o.OK || !strings.Contains(o.Error, "TypeError") {
			t.Errorf("got %+v, want a TypeError", o)
		}
	})
}

// connectOutcome is harness.tryConnect's report: how connect() settled,
// the state then, and the close events before.
type connectOutcome struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Code   int    `json:"code"`
	State  string `json:"state"`
	Closes []struct {
		Code      int    `json:"code"`
		Reason    string `json:"reason"`
		Reconnect string `json:"reconnect"` // "" for null
	} `json:"closes"`
}

// giveUp checks that connect() rejected after attempts connections, each
// closed 1006 (the last for good), and named the likely causes.
func giveUp(t *testing.T, o connectOutcome, attempts int) {
	t.Helper()
	if o.OK || o.State != "closed" || o.Code != 1006 || len(o.Closes) != attempts || o.Closes[attempts-1].Reconnect != "" ||
		!strings.Contains(o.Error, "attempts") || !strings.Contains(o.Error, "certificate") {
		t.Errorf("got %+v; want a rejection after %d attempts naming the certificate, state closed", o, attempts)
	}
}

// setupFailed checks that connect() rejected because media could not be
// set up and the gateway saw why.
func setupFailed(t *testing.T, o connectOutcome, gw *fakeGateway) {
	t.Helper()
	if o.OK || o.State != "closed" || !strings.Contains(o.Error, "media setup failed") {
		t.Errorf("got %+v; want a rejection (media setup failed), state closed", o)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return gw.closedWith(1000, "media setup failed") },
		"the gateway sees close 1000 'media setup failed' (it saw %v)", gw.closeCodes())
}

// fakeGateway is a voice gateway on loopback that speaks just enough of
// the protocol for connect(): Hello; Ready after Identify, Resumed after
// Resume, ACKs; Select Protocol goes to onSelect with the connection's
// number (1 for the first). It records what it received and how the
// client closed.
type fakeGateway struct {
	srv      *httptest.Server
	onSelect func(conn int, ws *websocket.Conn)

	wg sync.WaitGroup // connection handlers

	mu     sync.Mutex // guards the fields below
	conns  []*websocket.Conn
	ops    map[voiceproto.Op]int
	closes []*websocket.CloseError
}

func startFakeGateway(t *testing.T, tlsCfg *tls.Config, onSelect func(int, *websocket.Conn)) *fakeGateway {
	t.Helper()
	g := &fakeGateway{onSelect: onSelect, ops: map[voiceproto.Op]int{}}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(g.serveHTTP))
	g.srv.TLS = tlsCfg.Clone()
	g.srv.StartTLS()
	t.Cleanup(func() {
		g.srv.Close() // does not wait for hijacked connections: their handlers are ours
		g.mu.Lock()
		for _, c := range g.conns {
			_ = c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
	return g
}

func (g *fakeGateway) addr() string { return strings.TrimPrefix(g.srv.URL, "https://") }

var fakeUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (g *fakeGateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := fakeUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	g.mu.Lock()
	g.conns = append(g.conns, ws)
	n := len(g.conns)
	g.wg.Add(1)
	g.mu.Unlock()
	defer g.wg.Done()
	defer ws.Close()
	send := func(op voiceproto.Op, d any) { _ = ws.WriteJSON(voiceproto.Message{Op: op, D: d}) }
	send(voiceproto.OpHello, map[string]any{"heartbeat_interval": 10000})
	for {
		var m voiceproto.RawMessage
		if err := ws.ReadJSON(&m); err != nil {
			if ce := (*websocket.CloseError)(nil); errors.As(err, &ce) {
				g.mu.Lock()
				g.closes = append(g.closes, ce)
				g.mu.Unlock()
			}
			return
		}
		g.mu.Lock()
		g.ops[m.Op]++
		g.mu.Unlock()
		switch m.Op {
		case voiceproto.OpIdentify:
			send(voiceproto.OpReady, map[string]any{"ssrc": 1, "ip": "127.0.0.1", "port": 9, "modes": []string{}})
		case voiceproto.OpResume:
			send(voiceproto.OpResumed, nil)
		case voiceproto.OpHeartbeat:
			send(voiceproto.OpHeartbeatACK, json.RawMessage(m.D))
		case voiceproto.OpSelectProtocol:
			if g.onSelect != nil {
				g.onSelect(n, ws)
			}
		}
	}
}

// count is how many op messages the gateway received.
func (g *fakeGateway) count(op voiceproto.Op) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ops[op]
}

// closedWith reports whether a client closed a connection with code and reason.
func (g *fakeGateway) closedWith(code int, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.closes {
		if c.Code == code && c.Text == reason {
			return true
		}
	}
	return false
}

func (g *fakeGateway) closeCodes() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, c := range g.closes {
		out = append(out, c.Error())
	}
	return out
}

package voicenode_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/voiceclient"
	"github.com/parleyhq/parley/voicenode"
	"github.com/parleyhq/parley/voicenode/voicenodetest"
	"github.com/parleyhq/parley/web"
)

// startOrigin serves a web origin that fronts n at /voice (as parley
// serve does) and closes it when the test ends, before n.
func startOrigin(t *testing.T, n *voicenodetest.Node) *web.Origin {
	t.Helper()
	tcfg, err := n.Dir.TLSConfig("", "")
	if err != nil {
		t.Fatal(err)
	}
	o, err := web.New(web.Config{TLS: tcfg, Voice: n.Node, VoiceEndpoint: n.GatewayAddr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.Close(ctx); err != nil {
			t.Errorf("web origin close: %v", err)
		}
	})
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestVoiceThroughWebOrigin: a voice client identifies through the web
// origin's /voice and hears one that joined directly; GET /voice names
// the endpoint the origin fronts.
func TestVoiceThroughWebOrigin(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	o := startOrigin(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: n.RootCAs}, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + o.Addr() + "/voice")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Endpoint string }
	err = json.NewDecoder(resp.Body).Decode(&got)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || got.Endpoint != n.GatewayAddr() {
		t.Fatalf("GET /voice: %d %+v %v, want endpoint %s", resp.StatusCode, got, err, n.GatewayAddr())
	}

	join := func(user, endpoint string, heard *atomic.Int64) *voiceclient.Conn {
		cr := n.Creds(user, "1", "2")
		c, err := voiceclient.Dial(ctx, voiceclient.Config{Endpoint: endpoint, Token: cr.Token, SessionID: cr.SessionID,
			UserID: user, GuildID: "1", ChannelID: "2", RootCAs: n.RootCAs, DisableDAVE: true,
			OnFrame: func(voiceclient.Frame) {
				if heard != nil {
					heard.Add(1)
				}
			}})
		if err != nil {
			t.Fatalf("join %s through %s: %v", user, endpoint, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var heard atomic.Int64
	listener := join("101", o.Addr()+"/voice/", &heard)
	speaker := join("100", n.GatewayAddr(), nil)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(listener.Members()) == 1 }, "the fronted listener sees the speaker")
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = []byte{0xfc, byte(i), 0x01, 0x02}
	}
	if err := speaker.PlayFrames(ctx, frames); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return heard.Load() > 0 }, "the fronted listener hears the speaker")
}

// TestFrontedRefusals: what the web origin's /voice refuses, answered
// as Discord's errors.
func TestFrontedRefusals(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	for _, tc := range []struct {
		name   string
		proto  int
		target string
		upg    bool
		status int
	}{
		{"HTTP/2", 2, "/voice/?v=8", true, http.StatusHTTPVersionNotSupported},
		{"no upgrade", 1, "/voice/?v=8", false, http.StatusUpgradeRequired},
		{"bad version", 1, "/voice/?v=99", true, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.target, nil)
			r.ProtoMajor = tc.proto
			if tc.upg {
				r.Header.Set("Upgrade", "websocket")
				r.Header.Set("Connection", "Upgrade")
			}
			w := httptest.NewRecorder()
			n.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"message"`) {
				t.Fatalf("got %d %s, want %d with a message", w.Code, w.Body, tc.status)
			}
		})
	}
}

// TestFrontedConnectionsShareTheCaps: connections through the web
// origin's /voice count against the node's per-IP caps together with
// direct ones (429 through the origin, refused at accept directly), and
// give their place back when they close.
func TestFrontedConnectionsShareTheCaps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns connlimit.Config
	}{
		{"open", connlimit.Config{PerIP: 2, PendingPerIP: -1}},
		{"pending", connlimit.Config{PerIP: -1, PendingPerIP: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testkit.NoLeaks(t)
			n := voicenodetest.Start(t, voicenode.Config{Readers: 1, Conns: tc.conns})
			o := startOrigin(t, n)
			d := n.Dialer()
			dial := func(host string) (*websocket.Conn, int, error) {
				ws, resp, err := d.Dial("wss://"+host+"/?v=8", nil)
				code := 0
				if resp != nil {
					code = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body)
				}
				if ws != nil {
					t.Cleanup(func() { _ = ws.Close() })
				}
				return ws, code, err
			}
			fronted := o.Addr() + "/voice"
			if _, _, err := dial(n.GatewayAddr()); err != nil {
				t.Fatalf("direct: %v", err)
			}
			ws, _, err := dial(fronted)
			if err != nil {
				t.Fatalf("fronted: %v", err)
			}
			if _, code, err := dial(fronted); err == nil || code != http.StatusTooManyRequests {
				t.Fatalf("third, fronted: %d %v, want 429", code, err)
			}
			if _, _, err := dial(n.GatewayAddr()); err == nil {
				t.Fatal("third, direct: accepted over the cap")
			}
			_ = ws.Close()
			testkit.Eventually(t, 5*time.Second, func() bool {
				ws, _, err := d.Dial("wss://"+fronted+"/?v=8", nil)
				if err == nil {
					t.Cleanup(func() { _ = ws.Close() })
				}
				return err == nil
			}, "a closed fronted connection gives its place back")
		})
	}
}

// TestCloseEndsFrontedConnections: the node's Close ends a connection
// the web origin handed over (1001) and waits for it.
func TestCloseEndsFrontedConnections(t *testing.T) {
	testkit.NoLeaks(t)
	n := voicenodetest.Start(t, voicenode.Config{Readers: 1})
	o := startOrigin(t, n)
	ws, _, err := n.Dialer().Dial("wss://"+o.Addr()+"/voice/?v=8", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	readOp(t, ws, 8) // Hello: the gateway runs it
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
			t.Fatalf("got %v, want close 1001", err)
		}
		break
	}
	if _, _, err := n.Dialer().Dial("wss://"+o.Addr()+"/voice/?v=8", nil); err == nil {
		t.Fatal("a fronted connection was accepted after Close")
	}
}

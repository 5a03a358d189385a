package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/testkit"
)

// startTLSFront serves s.ServeHTTP on an HTTPS test server (HTTP/2
// offered, as the web origin does) and returns its address and a client
// TLS config trusting it. The front closes before the gateway (cleanups
// run last-registered first), as in `parley serve`.
func startTLSFront(t *testing.T, s *Server) (addr string, client *tls.Config) {
	t.Helper()
	srvCfg, cliCfg := testkit.TLS(t)
	ts := httptest.NewUnstartedServer(s)
	ts.EnableHTTP2 = true
	ts.TLS = srvCfg.Clone()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes cut short by the tests
	ts.StartTLS()
	t.Cleanup(ts.Close)
	cliCfg.ServerName = "127.0.0.1"
	return ts.Listener.Addr().String(), cliCfg
}

// dialTLS opens a wss:// gateway connection through the front from the
// loopback address src ("": the default).
func dialTLS(t *testing.T, addr string, cfg *tls.Config, src, query string) *client {
	t.Helper()
	d := ws.Dialer{NetDial: testkit.DialerFrom(src).DialContext, TLSConfig: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, "wss://"+addr+"/gateway"+query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, r: nc}
	if br != nil {
		c.r = io.MultiReader(br, nc)
	}
	return c
}

// rawUpgrade sends req over TLS from src and returns the status line and
// body of the answer.
func rawUpgrade(t *testing.T, addr string, cfg *tls.Config, src, req string) (int, string) {
	t.Helper()
	raw, err := testkit.DialerFrom(src).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const upgradeReq = "GET /gateway?v=10 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// TestServeHTTPIdentifyDispatchResume: a browser's WebSocket through an
// HTTPS front identifies, gets READY (resuming at the URL it came in on)
// and dispatches, resumes after a drop with the missed dispatch replayed,
// and its session is the same as one on the listener (resumable there).
func TestServeHTTPIdentifyDispatchResume(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, nil)
	addr, cfg := startTLSFront(t, s)
	c := dialTLS(t, addr, cfg, "", "?v=10&encoding=json")
	if hello := c.expect("10"); !strings.Contains(string(hello.D), "heartbeat_interval") {
		t.Fatalf("hello %s", hello.D)
	}
	c.send(identifyPayload("good", int(model.IntentGuilds|model.IntentGuildMessages)))
	ready := c.expect("READY")
	var rd struct {
		SessionID        string `json:"session_id"`
		ResumeGatewayURL string `json:"resume_gateway_url"`
	}
	_ = json.Unmarshal(ready.D, &rd)
	if rd.SessionID == "" || rd.ResumeGatewayURL != "wss://"+addr+"/gateway" {
		t.Fatalf("READY %s", ready.D)
	}
	c.expect("GUILD_CREATE")
	ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "hi"})
	s.Dispatch(ev)
	f := c.expect("MESSAGE_CREATE")
	if !strings.Contains(string(f.D), "hi") {
		t.Fatalf("MESSAGE_CREATE %s", f.D)
	}
	c.send(map[string]any{"op": 1, "d": *f.S})
	c.expect("11")

	c.nc.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 0 }, "dropped connection still counted")
	missed, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, map[string]string{"content": "missed"})
	s.Dispatch(missed)
	c2 := dialTLS(t, addr, cfg, "", "")
	c2.expect("10")
	c2.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": rd.SessionID, "seq": *f.S}})
	if g := c2.expect("MESSAGE_CREATE"); *g.S != *f.S+1 || !strings.Contains(string(g.D), "missed") {
		t.Fatalf("replayed %s (s=%d)", g.D, *g.S)
	}
	resumed := c2.expect("RESUMED")

	// The same session moves to the listener (one set of sessions).
	c3 := dial(t, url)
	c3.expect("10")
	c3.send(map[string]any{"op": 6, "d": map[string]any{"token": "good", "session_id": rd.SessionID, "seq": *resumed.S}})
	c3.expect("RESUMED")
	if code := c2.expectClose(); code != int(CloseUnknownError) {
		t.Fatalf("the replaced connection closed with %d", code)
	}
}

// TestServeHTTPCaps: connections through the front count against the
// listener's per-IP caps together with the listener's own, by the
// browser's address; over a cap the upgrade is answered 429.
func TestServeHTTPCaps(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, func(c *Config) { c.Conns = connlimit.Config{PerIP: 3, PendingPerIP: 2} })
	addr, cfg := startTLSFront(t, s)
	a := dialFrom(t, url, "127.0.3.1") // the listener
	a.expect("10")
	b := dialTLS(t, addr, cfg, "127.0.3.1", "") // the front
	b.expect("10")
	if code, body := rawUpgrade(t, addr, cfg, "127.0.3.1", upgradeReq); code != http.StatusTooManyRequests || !strings.Contains(body, `"code":0`) {
		t.Fatalf("a third pending connection: %d %s", code, body)
	}
	other := dialTLS(t, addr, cfg, "127.0.3.2", "")
	other.expect("10")
	b.send(identifyPayload("good", 1))
	b.expect("READY")
	c := dialTLS(t, addr, cfg, "127.0.3.1", "") // b's pending place is free
	c.expect("10")
	if code, _ := rawUpgrade(t, addr, cfg, "127.0.3.1", upgradeReq); code != http.StatusTooManyRequests {
		t.Fatalf("a fourth open connection: %d", code)
	}
	if st := s.Stats(); st.RefusedPending != 1 || st.RefusedPerIP != 1 {
		t.Fatalf("refusals: %+v", st)
	}
}

// TestServeHTTPIdentifyTimeout: an adopted connection that does not
// identify is closed with 4003 like any other.
func TestServeHTTPIdentifyTimeout(t *testing.T) {
	testkit.NoLeaks(t)
	s, _, _ := startServer(t, func(c *Config) { c.IdentifyTimeout = 200 * time.Millisecond })
	addr, cfg := startTLSFront(t, s)
	c := dialTLS(t, addr, cfg, "", "")
	c.expect("10")
	if got := c.expectClose(); got != int(CloseNotAuthenticated) {
		t.Fatalf("close %d, want 4003", got)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Stats().Connections == 0 }, "the closed connection is still counted")
}

// blockOnToken blocks Authenticate of the token "block" until its
// context ends.
type blockOnToken struct {
	fakeBackend
	entered chan struct{}
}

func (b *blockOnToken) Authenticate(ctx context.Context, token string) (model.Auth, error) {
	if token != "block" {
		return b.fakeBackend.Authenticate(ctx, token)
	}
	close(b.entered)
	<-ctx.Done()
	return model.Auth{}, ctx.Err()
}

// TestServeHTTPCloseWaits: Close sends op 7 and a close frame to an
// adopted connection, cancels and waits for a read inside the backend,
// cuts off a client that stopped reading with a write pending, and every
// goroutine (readers, writers, handshakes) has ended when it returns.
func TestServeHTTPCloseWaits(t *testing.T) {
	testkit.NoLeaks(t)
	bb := &blockOnToken{entered: make(chan struct{})}
	s, _, _ := startServer(t, func(c *Config) {
		c.Backend, c.ReplayLimit, c.ReplayBytes, c.WriteTimeout = bb, 100_000, 64<<20, time.Minute
	})
	addr, cfg := startTLSFront(t, s)

	good := dialTLS(t, addr, cfg, "", "")
	good.expect("10")
	good.send(identifyPayload("good", int(model.IntentGuildMessages)))
	good.expect("READY")
	stuck := dialTLS(t, addr, cfg, "", "")
	stuck.expect("10")
	stuck.send(identifyPayload("other", int(model.IntentGuildMessages)))
	stuck.expect("READY")
	// stuck stops reading; fill its socket and TLS buffers.
	big := map[string]string{"content": strings.Repeat("x", 256<<10)}
	for range 48 {
		ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, big)
		s.Dispatch(ev)
	}
	for range 48 { // good keeps reading
		good.expect("MESSAGE_CREATE")
	}
	blocked := dialTLS(t, addr, cfg, "", "")
	blocked.expect("10")
	blocked.send(identifyPayload("block", 1))
	<-bb.entered

	done := make(chan struct{})
	go func() { defer close(done); closeWithin(t, s, 200*time.Millisecond, 3*time.Second) }()
	f, code := good.read()
	if code != 0 || f.Op != int(OpReconnect) {
		t.Fatalf("got op %d (close %d), want op 7", f.Op, code)
	}
	if code := good.expectClose(); code != int(CloseUnknownError) {
		t.Fatalf("close %d, want 4000", code)
	}
	<-done
	if n := s.Stats().Connections; n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
}

// TestServeHTTPRefusals: requests that are not a gateway WebSocket get a
// specific status and a Discord-shaped body, and the gateway serves
// nothing before Start.
func TestServeHTTPRefusals(t *testing.T) {
	testkit.NoLeaks(t)
	s, _, _ := startServer(t, nil)
	addr, cfg := startTLSFront(t, s)
	key := "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	tests := []struct {
		name, req string
		status    int
		header    [2]string
	}{
		{"plain GET", "GET /gateway HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusUpgradeRequired, [2]string{"Upgrade", "websocket"}},
		{"POST", "POST /gateway HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key + "Content-Length: 0\r\n\r\n",
			http.StatusMethodNotAllowed, [2]string{"Allow", "GET"}},
		{"no Connection: Upgrade", "GET /gateway HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + key + "\r\n", http.StatusBadRequest, [2]string{}},
		{"version 8", "GET /gateway HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n" + key + "\r\n",
			http.StatusUpgradeRequired, [2]string{"Sec-WebSocket-Version", "13"}},
		{"bad key", "GET /gateway HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
			http.StatusBadRequest, [2]string{}},
		{"data before the 101", upgradeReq + "\x81\x80abcd", http.StatusBadRequest, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c := tls.Client(raw, cfg)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Code    *int
				Message string
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || err != nil || body.Code == nil || body.Message == "" {
				t.Fatalf("%d %+v (%v), want %d and a Discord error body", resp.StatusCode, body, err, tt.status)
			}
			if tt.header[0] != "" && resp.Header.Get(tt.header[0]) != tt.header[1] {
				t.Fatalf("%s: %q, want %q", tt.header[0], resp.Header.Get(tt.header[0]), tt.header[1])
			}
		})
	}
	t.Run("HTTP/2", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
		defer hc.CloseIdleConnections()
		// (Go's client sends no Upgrade over HTTP/2; the version alone
		// decides.)
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/gateway", nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusHTTPVersionNotSupported {
			t.Fatalf("%s %d, want HTTP/2 505", resp.Proto, resp.StatusCode)
		}
	})
	t.Run("not started", func(t *testing.T) {
		s2, err := New(Config{Backend: &fakeBackend{}})
		if err != nil {
			t.Fatal(err)
		}
		defer closeServer(t, s2)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/gateway", nil)
		for k, v := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
			req.Header.Set(k, v)
		}
		s2.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%d, want 503", rec.Code)
		}
	})
}

// FuzzCheckUpgrade: any request headers are answered (an error or
// parameters), never a panic; an accepted handshake has a 16-byte key.
func FuzzCheckUpgrade(f *testing.F) {
	f.Add("websocket", "keep-alive, Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", "/gateway?v=10&encoding=json", "example.com:8443")
	f.Add("WebSocket, h2c", "upgrade", "8", "", "/?compress=zlib-stream", "[::1]:1")
	f.Add("", "", "", "%%%", "/%zz", "a b")
	f.Fuzz(func(t *testing.T, upgrade, connection, version, key, target, host string) {
		r := &http.Request{Method: http.MethodGet, ProtoMajor: 1, ProtoMinor: 1, Host: host, Header: http.Header{
			"Upgrade": {upgrade}, "Connection": {connection}, "Sec-Websocket-Version": {version}, "Sec-Websocket-Key": {key}}}
		u, err := http.NewRequest(http.MethodGet, "http://x"+target, nil)
		if err != nil {
			return
		}
		r.URL = u.URL
		if _, err := checkUpgrade(r); err == nil && !hasToken([]string{upgrade}, "websocket") {
			t.Fatalf("accepted Upgrade %q", upgrade)
		}
	})
}

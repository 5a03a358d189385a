package rest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/service"
	"github.com/parleyhq/parley/chat/store"
	"github.com/parleyhq/parley/internal/testkit"
)

// newService returns a service on a fresh SQLite store.
func newService(t *testing.T) *service.Service {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "chat.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := service.New(ctx, service.Config{Store: st, PasswordIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// startServer starts a REST server; its cleanup closes it.
func startServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCloseIdle: Close ends keep-alive connections and waits for them.
func TestCloseIdle(t *testing.T) {
	testkit.NoLeaks(t)
	s := startServer(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get("http://" + s.Addr() + "/api/v10/gateway")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != `{"url":"ws://127.0.0.1:1"}` {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestCloseCutsSlowRequest: a request still sending its body when Close's
// context ends is cut off, and its connection's goroutine is waited for
// (Shutdown alone would return and leave it running).
func TestCloseCutsSlowRequest(t *testing.T) {
	testkit.NoLeaks(t)
	s := startServer(t)
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, err = io.WriteString(nc, "POST /api/v10/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Stats().LimiterKeys > 0 }, "the request never reached its handler")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the context's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	// The server hung up on the client (which still holds its end).
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// TestLifecycle: Close without Start releases the listener; Start after
// Close and a second Start fail.
func TestLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://x"})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatal("listener open after Close")
	}
	s2 := startServer(t)
	if err := s2.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	svc := &service.Service{}
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{Service: svc, GatewayURL: "ws://x"}, true},
		{"no service", Config{GatewayURL: "ws://x"}, false},
		{"no gateway url", Config{Service: svc}, false},
		{"negative body", Config{Service: svc, GatewayURL: "ws://x", MaxBody: -1}, false},
		{"negative files", Config{Service: svc, GatewayURL: "ws://x", MaxFiles: -1}, false},
		{"too many files", Config{Service: svc, GatewayURL: "ws://x", MaxFiles: maxFileKey + 2}, false},
		{"huge files", Config{Service: svc, GatewayURL: "ws://x", MaxFileBytes: maxFileBytes + 1}, false},
		{"negative upload timeout", Config{Service: svc, GatewayURL: "ws://x", UploadTimeout: -time.Second}, false},
		{"route without window", Config{Service: svc, GatewayURL: "ws://x", Routes: map[string]Limit{"GET /gateway": {5, 0}}}, false},
		{"route negative window", Config{Service: svc, GatewayURL: "ws://x", Routes: map[string]Limit{"GET /gateway": {5, -time.Second}}}, false},
		{"route default", Config{Service: svc, GatewayURL: "ws://x", Routes: map[string]Limit{"GET /gateway": {}}}, true},
		{"route unlimited", Config{Service: svc, GatewayURL: "ws://x", Routes: map[string]Limit{"GET /gateway": {Requests: -1}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// TestRouteLimitDefaults: a Routes entry with zero Requests keeps the
// route's default (it refused every request), whether that is a built-in
// route limit or Default.
func TestRouteLimitDefaults(t *testing.T) {
	c := Config{Routes: map[string]Limit{routeCreateMessage: {}, "GET /gateway": {}, "GET /users/@me": {2, time.Second}}}.withDefaults()
	if got := c.Routes[routeCreateMessage]; got != (Limit{5, 5 * time.Second}) {
		t.Errorf("message create: %+v, want the built-in 5 per 5 s", got)
	}
	if got, ok := c.Routes["GET /gateway"]; ok {
		t.Errorf("GET /gateway: %+v, want no entry (Default)", got)
	}
	if got := c.Routes["GET /users/@me"]; got != (Limit{2, time.Second}) {
		t.Errorf("GET /users/@me: %+v", got)
	}
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://x", Routes: map[string]Limit{"GET /gateway": {}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	for i := range 3 {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "http://x/api/v10/gateway", nil))
		if w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
}

// TestSlowClientsCut (issue item 14): a request whose body trickles in
// (one byte every 100 ms) is cut off at ReadTimeout, and the defaults
// bound reading, writing and idling.
func TestSlowClientsCut(t *testing.T) {
	testkit.NoLeaks(t)
	d := (Config{}).withDefaults()
	if d.ReadTimeout <= 0 || d.ReadTimeout > time.Minute || d.WriteTimeout <= 0 || d.IdleTimeout <= 0 || d.ReadHeaderTimeout <= 0 {
		t.Fatalf("default timeouts: %+v", d)
	}
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://x", ReadTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := io.WriteString(nc, "POST /api/v10/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, err := nc.Write([]byte{'a'}); err != nil {
			break // the server hung up
		}
		time.Sleep(100 * time.Millisecond) // the slow client's pace, not synchronisation
	}
	_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("connection still open after %v: %v", time.Since(start), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("slow body held the connection %v (ReadTimeout 300 ms)", d)
	}
}

// TestConnCapPerIP (issue item 14): connections beyond MaxConnsPerIP from
// one address are closed at accept; other addresses are served.
func TestConnCapPerIP(t *testing.T) {
	testkit.NoLeaks(t)
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://x", MaxConnsPerIP: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	from := func(src string) net.Conn {
		nc, err := testkit.DialerFrom(src).Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	served := func(nc net.Conn) bool {
		if _, err := io.WriteString(nc, "GET /api/v10/gateway HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return false
		}
		_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 12)
		_, err := io.ReadFull(nc, b)
		return err == nil && string(b) == "HTTP/1.1 200"
	}
	a, b := from("127.0.4.1"), from("127.0.4.1")
	if !served(a) || !served(b) {
		t.Fatal("connections within the cap not served")
	}
	if served(from("127.0.4.1")) {
		t.Fatal("a third connection from one address was served")
	}
	if !served(from("127.0.4.2")) {
		t.Fatal("another address was refused")
	}
	if n := s.Stats().RefusedConns; n != 1 {
		t.Fatalf("%d refusals counted", n)
	}
}

// TestNotFound: what no route answers is Discord's 404 JSON: an unknown
// path, a method the path does not take (not net/http's 405), a path
// outside /api, and an unclean path (not a redirect that loses /api).
func TestNotFound(t *testing.T) {
	s, err := New(Config{Service: newService(t), GatewayURL: "ws://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	tests := []struct{ method, path string }{
		{"GET", "/api/v10/nope"},
		{"GET", "/api/v10/gateway/"},
		{"DELETE", "/api/v10/gateway"},
		{"PUT", "/api/v10/users/@me"},
		{"GET", "/gateway"},
		{"GET", "/api/v10//gateway"},
		{"GET", "/api/v10/./gateway"},
		{"GET", "/api/v10/x/../gateway"},
		{"PATCH", "/api/v10/users//@me"},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(tc.method, "http://x"+tc.path, nil))
		if body := strings.TrimSpace(w.Body.String()); w.Code != 404 || body != `{"code":0,"message":"404: Not Found"}` {
			t.Errorf("%s %s: %d %q (Location %q)", tc.method, tc.path, w.Code, body, w.Header().Get("Location"))
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "http://x/api/v9/gateway", nil))
	if w.Code != 200 {
		t.Fatalf("GET /api/v9/gateway: %d %s", w.Code, w.Body)
	}
}

package rest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

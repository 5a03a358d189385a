package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/testkit"
)

// blockingBackend blocks Authenticate until its context ends.
type blockingBackend struct {
	fakeBackend
	entered chan struct{}
}

func (b *blockingBackend) Authenticate(ctx context.Context, token string) (model.Auth, error) {
	close(b.entered)
	<-ctx.Done()
	return model.Auth{}, ctx.Err()
}

// closeWithin closes s with a graceful bound of grace and fails the test if
// Close takes longer than limit.
func closeWithin(t *testing.T, s *Server, grace, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > limit {
		t.Fatalf("Close took %v, want under %v", d, limit)
	}
}

// TestCloseWaitsForReads: a read that is inside the backend when Close runs
// is cancelled and waited for (it used to outlive Close by up to 10 s).
func TestCloseWaitsForReads(t *testing.T) {
	testkit.NoLeaks(t)
	bb := &blockingBackend{entered: make(chan struct{})}
	_, url, _ := startServer(t, func(c *Config) { c.Backend = bb })
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", 1))
	<-bb.entered
}

// TestCloseCutsUpgrade: a client that connected but never finishes its
// HTTP upgrade does not hold Close for the 10 s handshake deadline.
func TestCloseCutsUpgrade(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, nil)
	nc, err := net.Dial("tcp", strings.TrimPrefix(url, "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return len(s.upgrading) == 1
	}, "the upgrade did not start")
	closeWithin(t, s, 5*time.Second, 2*time.Second)
}

// TestCloseSlowWriter: a client that stops reading while dispatches pile
// up is being written on a goroutine of its own (finishSlow, up to
// WriteTimeout); Close cuts it off once its context ends and waits for it.
func TestCloseSlowWriter(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, func(c *Config) { c.ReplayLimit = 100_000; c.WriteTimeout = time.Minute })
	c := dial(t, url)
	c.expect("10")
	c.send(identifyPayload("good", int(model.IntentGuildMessages)))
	c.expect("READY")
	big := map[string]string{"content": strings.Repeat("x", 256<<10)}
	testkit.Eventually(t, 10*time.Second, func() bool {
		ev, _ := model.NewEvent("MESSAGE_CREATE", testGuild, model.IntentGuildMessages, big)
		s.Dispatch(ev)
		return s.Stats().SlowWriters == 1
	}, "the connection never became a slow writer")
	closeWithin(t, s, 100*time.Millisecond, time.Second)
	if n := s.Stats().SlowWriters; n != 0 {
		t.Fatalf("%d slow writers after Close", n)
	}
}

// TestCloseLingering: a connection lingering after its close frame (the
// client neither answers nor hangs up) is cut off when Close's context
// ends, instead of running out its linger second.
func TestCloseLingering(t *testing.T) {
	testkit.NoLeaks(t)
	s, url, _ := startServer(t, nil)
	c := dial(t, url)
	c.expect("10")
	c.send(map[string]any{"op": 99})
	if got := c.expectClose(); got != int(CloseUnknownOpcode) {
		t.Fatalf("close %d", got)
	}
	if s.Stats().Connections != 1 {
		t.Fatal("the closed connection is not lingering")
	}
	closeWithin(t, s, 50*time.Millisecond, 900*time.Millisecond)
	if n := s.Stats().Connections; n != 0 {
		t.Fatalf("%d connections after Close", n)
	}
}

// TestLifecycle: Close without Start releases the listener; Start after
// Close and a second Start fail; Close is idempotent.
func TestLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	s, err := New(Config{Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	closeServer(t, s)
	closeServer(t, s)
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatal("listener still open after Close")
	}
	s2, _, _ := startServer(t, nil)
	if err := s2.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"backend only", Config{Backend: &fakeBackend{}}, true},
		{"no backend", Config{}, false},
		{"negative frame", Config{Backend: &fakeBackend{}, MaxFrame: -1}, false},
		{"negative replay", Config{Backend: &fakeBackend{}, ReplayLimit: -1}, false},
		{"no connection caps", Config{Backend: &fakeBackend{}, Conns: connlimit.Config{PerIP: -1, PendingPerIP: -1}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

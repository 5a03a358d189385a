package httpserve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

var errClosed, errStarted = errors.New("test: closed"), errors.New("test: started")

// start serves h on a loopback listener; t's cleanup closes the server.
func start(t *testing.T, h http.Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Handler: h, Listener: ln, Name: "test", ErrClosed: errClosed, ErrStarted: errStarted})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, "http://" + ln.Addr().String()
}

func TestConfigValidate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ok := Config{Handler: http.NotFoundHandler(), Listener: ln, ErrClosed: errClosed, ErrStarted: errStarted}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no handler", func(c *Config) { c.Handler = nil }},
		{"no listener", func(c *Config) { c.Listener = nil }},
		{"no ErrClosed", func(c *Config) { c.ErrClosed = nil }},
		{"no ErrStarted", func(c *Config) { c.ErrStarted = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
			if _, err := New(c); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: got %v, want ErrConfig", err)
			}
		})
	}
}

// TestLifecycle: it serves, a second Start and a Start after Close give
// the owner's sentinels, Close is idempotent and closes the listener.
func TestLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	s, url := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if err := s.Start(context.Background()); !errors.Is(err, errStarted) {
		t.Fatalf("second Start: %v", err)
	}
	for range 2 {
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := s.Start(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if _, err := c.Get(url); err == nil {
		t.Fatal("a closed server answered")
	}
}

// TestCloseNeverStarted: Close of a server that never ran closes its
// listener.
func TestCloseNeverStarted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Handler: http.NotFoundHandler(), Listener: ln, ErrClosed: errClosed, ErrStarted: errStarted})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		_ = c.Close()
		t.Fatal("the listener of a closed server accepted")
	}
}

// TestCloseForces: a request that does not finish within Close's ctx has
// its connection closed; Close reports ctx's error and still waits for
// the handler's connection goroutine.
func TestCloseForces(t *testing.T) {
	testkit.NoLeaks(t)
	entered := make(chan struct{})
	s, url := start(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // ends when the connection is closed
	}))
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
		}
		got <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	if err := <-got; err == nil {
		t.Fatal("the hanging request got an answer")
	}
}

// TestHijackedNotWaited: a hijacked connection is its new owner's: Close
// returns while it is still open.
func TestHijackedNotWaited(t *testing.T) {
	testkit.NoLeaks(t)
	hijacked := make(chan net.Conn, 1)
	s, url := start(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		hijacked <- c
	}))
	client, err := net.Dial("tcp", url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := io.WriteString(client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c := <-hijacked
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close with a hijacked connection open: %v", err)
	}
	if _, err := io.WriteString(c, "still mine"); err != nil {
		t.Fatalf("the hijacked connection was closed: %v", err)
	}
}

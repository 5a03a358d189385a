package mediaproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
	"go.uber.org/goleak"
)

// processGlobals are goroutines that live as long as the process, not a
// server: fasthttp refreshes its Date header from one started on the
// first response anywhere in the process.
var processGlobals = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
}

// gate is a pipeline step that holds every job, worker slot taken, until
// it is released or the job's context ends, which is how a long libvips
// resize ends too (the deadline between steps, the kill flag within one).
type gate struct {
	entered atomic.Int32
	release chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

// install puts the gate in front of the server's pipeline (a newHookedServer
// hook).
func (g *gate) install(s *Server) {
	s.pipeline = append(Pipeline{{Name: "gate", Run: func(ctx context.Context, _ *Job) error {
		g.entered.Add(1)
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}}, s.pipeline...)
}

// getAsync GETs path in a goroutine and delivers the status (0 when the
// request failed, e.g. the server closed the connection).
func (e *testEnv) getAsync(path string) <-chan int {
	out := make(chan int, 1)
	go func() {
		resp, err := e.client.Get(e.base + path)
		if err != nil {
			out <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		out <- resp.StatusCode
	}()
	return out
}

// within waits for a value from ch for at most d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
	}
	var zero T
	return zero
}

func closeWithin(t *testing.T, s *Server, ctxTimeout, bound time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctxTimeout)
	defer cancel()
	start := time.Now()
	err := s.Close(ctx)
	if d := time.Since(start); d > bound {
		t.Fatalf("Close took %v (ctx %v, bound %v)", d, ctxTimeout, bound)
	}
	return err
}

// TestCloseIdleConnections closes a server whose client keeps an idle
// keep-alive connection: nothing the server started may outlive Close.
func TestCloseIdleConnections(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, nil)
	p := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	if resp, body := e.get(t, withQuery(p, "width=8")); resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if err := e.srv.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	if err := closeWithin(t, e.srv, 5*time.Second, 2*time.Second); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.srv.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.srv.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
}

// TestCloseWithoutStart releases the listener New bound.
func TestCloseWithoutStart(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Key: make([]byte, 32), Store: st})
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr %s: New did not bind", addr)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("address still bound after Close: %v", err)
	}
	_ = ln.Close()
}

// TestCloseGraceful: a request in flight when Close starts gets its
// answer, new connections are refused meanwhile, and Close returns nil
// once it is done.
func TestCloseGraceful(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, nil, g.install)
	p := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	got := e.getAsync(withQuery(p, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "job running")
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		closed <- e.srv.Close(ctx)
	}()
	testkit.Eventually(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", e.srv.Addr())
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, "listener still accepting after Close started")
	close(g.release)
	if st := within(t, got, 5*time.Second, "response"); st != 200 {
		t.Fatalf("in-flight request got %d, want 200", st)
	}
	if err := within(t, closed, 5*time.Second, "Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestCloseCancelsJobs: when Close's context ends before the jobs in
// flight, Close cancels them (a long resize is not waited for), releases
// their waiters, a coalesced one included, and waits for every goroutine.
func TestCloseCancelsJobs(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, nil, g.install)
	a := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	b := e.put(t, "b.png", sourceOf(t, FormatPNG, 16, 20)) // another blob, another job
	got := []<-chan int{
		e.getAsync(withQuery(a, "width=8")),
		e.getAsync(withQuery(b, "width=8")),
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 2 }, "two jobs running")
	got = append(got, e.getAsync(withQuery(a, "width=8"))) // joins a's job
	testkit.Eventually(t, 5*time.Second, func() bool { return e.metric(t, "parley_media_coalesced_total") == 1 }, "coalesced waiter")
	err := closeWithin(t, e.srv, 200*time.Millisecond, 3*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the graceful part cut short (DeadlineExceeded)", err)
	}
	for i, ch := range got {
		if st := within(t, ch, 5*time.Second, "waiter released"); st == http.StatusOK {
			t.Fatalf("request %d got 200 from a cancelled job", i)
		}
	}
	if g.entered.Load() != 2 {
		t.Fatalf("%d jobs ran, want 2 (the third request joined one)", g.entered.Load())
	}
}

// TestNewTakesListener: New serves on a listener it is given (its address
// known before New) and owns it: Close closes it, and so does a New that
// fails.
func TestNewTakesListener(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Key, cfg.Store = make([]byte, 32), st
	cases := []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"served", make([]byte, 32), true},
		{"New fails", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Key, cfg.Listener = c.key, ln
			s, err := New(cfg)
			if (err == nil) != c.ok {
				t.Fatalf("New: %v", err)
			}
			if c.ok {
				if s.Addr() != ln.Addr().String() {
					t.Fatalf("Addr %s, listener %s", s.Addr(), ln.Addr())
				}
				if err := s.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("healthz: %v %v", resp, err)
				}
				_ = resp.Body.Close()
				http.DefaultClient.CloseIdleConnections()
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("the listener is still open: %v", err)
			}
		})
	}
}

package mediaproxy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// rawGet sends a GET on a connection of its own and leaves the answer
// unread: closing the connection is a client going away.
func (e *testEnv) rawGet(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: media\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientGoneReleasesQueueSlot: a client that disconnects while its
// job waits for a worker releases its waiter at once, and the job, which
// nobody else waits for, gives its queue place back.
func TestClientGoneReleasesQueueSlot(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, func(c *Config) { c.Workers, c.Queue = 1, 4 }, g.install)
	a := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	b := e.put(t, "b.png", sourceOf(t, FormatPNG, 16, 20))
	first := e.getAsync(withQuery(a, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "first job holds the worker")
	c := e.rawGet(t, withQuery(b, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return e.srv.pool.QueueDepth() == 1 }, "second job queued")
	_ = c.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return e.srv.pool.QueueDepth() == 0 }, "queue place given back")
	testkit.Eventually(t, 5*time.Second, func() bool { return e.metric(t, `parley_media_requests_total{status="499"}`) == 1 }, "waiter released (499)")
	if n := e.metric(t, "parley_media_abandoned_jobs_total"); n != 1 {
		t.Fatalf("abandoned jobs %v, want 1", n)
	}
	close(g.release)
	if st := within(t, first, 5*time.Second, "first response"); st != 200 {
		t.Fatalf("first request got %d", st)
	}
	if n := g.entered.Load(); n != 1 {
		t.Fatalf("%d jobs reached the pipeline, want 1 (the abandoned one never ran)", n)
	}
}

// TestClientGoneCoalesced: one of two waiters for the same job leaves;
// the job goes on for the other.
func TestClientGoneCoalesced(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, nil, g.install)
	a := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	c := e.rawGet(t, withQuery(a, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "job running")
	stays := e.getAsync(withQuery(a, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return e.metric(t, "parley_media_coalesced_total") == 1 }, "second waiter joined")
	_ = c.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return e.metric(t, `parley_media_requests_total{status="499"}`) == 1 }, "leaving waiter released")
	close(g.release)
	if st := within(t, stays, 5*time.Second, "remaining waiter"); st != 200 {
		t.Fatalf("remaining waiter got %d", st)
	}
	if n := e.metric(t, "parley_media_abandoned_jobs_total"); n != 0 {
		t.Fatalf("abandoned jobs %v, want 0", n)
	}
}

// TestClientGoneRunningJob: a job that holds a worker when its only
// waiter leaves finishes and is cached when there is a cache, and is
// cancelled (worker given back) when there is none.
func TestClientGoneRunningJob(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			testkit.NoLeaks(t, processGlobals...)
			g := newGate()
			e := newHookedServer(t, func(c *Config) {
				if !cached {
					c.MemCacheBytes, c.CacheDir = 0, ""
				}
			}, g.install)
			a := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
			c := e.rawGet(t, withQuery(a, "width=8"))
			testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "job running")
			_ = c.Close()
			testkit.Eventually(t, 5*time.Second, func() bool { return e.metric(t, `parley_media_requests_total{status="499"}`) == 1 }, "waiter released")
			if !cached {
				testkit.Eventually(t, 5*time.Second, func() bool { return e.srv.pool.Running() == 0 }, "worker given back")
				return
			}
			close(g.release)
			testkit.Eventually(t, 5*time.Second, func() bool { return e.srv.mem.bytes() > 0 }, "result cached")
			if resp, _ := e.get(t, withQuery(a, "width=8")); resp.StatusCode != 200 || e.metric(t, `parley_media_cache_hits_total{tier="memory"}`) != 1 {
				t.Fatalf("status %d, memory hits %v", resp.StatusCode, e.metric(t, `parley_media_cache_hits_total{tier="memory"}`))
			}
		})
	}
}

// TestHandleCancelledContext: on any front, a caller's context ending
// releases the waiter the same way.
func TestHandleCancelledContext(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, nil, g.install)
	a := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Response, 1)
	path, query, _ := strings.Cut(a, "?")
	go func() {
		done <- e.srv.Handle(ctx, &Request{Method: "GET", RawPath: path, RawQuery: query + "&width=8"})
	}()
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "job running")
	cancel()
	if r := within(t, done, 5*time.Second, "Handle"); r.Status != 499 {
		t.Fatalf("status %d, want 499", r.Status)
	}
	close(g.release)
}

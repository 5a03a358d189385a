package mediaproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// holdBudget reserves the server's body budget until only free bytes are
// left, until the test ends.
func (e *testEnv) holdBudget(t *testing.T, free int64) {
	t.Helper()
	r := &reservation{b: e.srv.budget}
	if err := r.growTo(e.srv.budget.limit - e.srv.budget.InFlight() - free); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.release)
}

// TestSourceReadAfterWorkerSlot: an attachment's bytes are read only once
// its job holds a worker, so a queued or refused job has spent no memory.
// The blob is removed from the store: reading it would answer 404 at once.
func TestSourceReadAfterWorkerSlot(t *testing.T) {
	for _, queue := range []int{0, 1} {
		t.Run(fmt.Sprintf("queue=%d", queue), func(t *testing.T) {
			testkit.NoLeaks(t, processGlobals...)
			e := newTestServer(t, func(c *Config) { c.Workers, c.Queue, c.MemCacheBytes, c.CacheDir = 1, queue, 0, "" })
			a, err := e.store.PutRaw("100", "gone.png", sourceOf(t, FormatPNG, 16, 16), Probe{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(e.store.blobPath(a.SHA256)); err != nil {
				t.Fatal(err)
			}
			p := e.srv.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, time.Now(), time.Hour)
			release, err := e.srv.pool.Acquire(context.Background()) // the only worker
			if err != nil {
				t.Fatal(err)
			}
			if queue == 0 {
				resp, body := e.get(t, p)
				release()
				wantError(t, resp, body, 503, "overloaded")
				if resp.Header.Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After")
				}
				return
			}
			got := e.getAsync(p)
			testkit.Eventually(t, 5*time.Second, func() bool { return e.srv.pool.QueueDepth() == 1 }, "job queued before reading its source")
			release()
			if st := within(t, got, 5*time.Second, "response"); st != 404 {
				t.Fatalf("status %d, want 404 once a worker read the (missing) source", st)
			}
		})
	}
}

// TestBodyBudgetSources: attachment sources count against the body budget
// while their job runs; a source that does not fit is refused with 503.
func TestBodyBudgetSources(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	g := newGate()
	e := newHookedServer(t, func(c *Config) { c.Limits.MaxBytes, c.BodyBudget = 1<<20, 1<<20 }, g.install)
	src := sourceOf(t, FormatPNG, 16, 16)
	a := e.put(t, "a.png", src)
	b := e.put(t, "b.png", sourceOf(t, FormatPNG, 16, 20))
	first := e.getAsync(withQuery(a, "width=8"))
	testkit.Eventually(t, 5*time.Second, func() bool { return g.entered.Load() == 1 }, "job running")
	if n := e.metric(t, "parley_media_body_bytes_in_flight"); n != float64(len(src)) {
		t.Fatalf("bytes in flight %v, want %d", n, len(src))
	}
	e.holdBudget(t, 10) // b does not fit
	resp, body := e.get(t, withQuery(b, "width=8"))
	wantError(t, resp, body, 503, "overloaded")
	if resp.Header.Get("Retry-After") == "" || e.metric(t, "parley_media_body_budget_rejects_total") != 1 {
		t.Fatalf("Retry-After %q, rejects %v", resp.Header.Get("Retry-After"), e.metric(t, "parley_media_body_budget_rejects_total"))
	}
	close(g.release)
	if st := within(t, first, 5*time.Second, "first response"); st != 200 {
		t.Fatalf("first request got %d", st)
	}
}

// rawPost sends an upload's headers and only the first send bytes of its
// body, then reads the answer: it must come without the rest of the body.
// (fasthttp reads up to 8 KiB of a streamed body before the handler runs.)
func (e *testEnv) rawPost(t *testing.T, token string, declared int, send int) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "POST /upload/42?filename=a.png HTTP/1.1\r\nHost: media\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, declared); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, send)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp
}

// TestUploadAdmittedBeforeBody: an upload is authorised, sized and
// admitted from its headers; a refusal comes before the body is read.
func TestUploadAdmittedBeforeBody(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, func(c *Config) { c.Limits.MaxBytes, c.BodyBudget = 1<<20, 1<<20 })
	e.holdBudget(t, 100<<10)
	token := UploadToken(e.key)
	for _, c := range []struct {
		name     string
		token    string
		declared int
		status   int
	}{
		{"over budget", token, 500 << 10, 503},
		{"bad token", "nope", 500 << 10, 401},
		{"over MaxBytes", token, 2 << 20, 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := e.rawPost(t, c.token, c.declared, 8<<10)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if c.status == 503 && resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
	if n := e.metric(t, "parley_media_body_budget_rejects_total"); n != 1 {
		t.Fatalf("budget rejects %v, want 1", n)
	}
}

// TestUploadChunked: a body of unknown length is admitted chunk by chunk.
func TestUploadChunked(t *testing.T) {
	e := newTestServer(t, func(c *Config) { c.Limits.MaxBytes, c.BodyBudget = 1<<20, 1<<20 })
	img := sourceOf(t, FormatPNG, 64, 64)
	post := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/upload/42?filename=a.png", io.MultiReader(strings.NewReader(string(img))))
		req.Header.Set("Authorization", "Bearer "+UploadToken(e.key))
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	if resp := post(); resp.StatusCode != 201 {
		t.Fatalf("chunked upload: %d", resp.StatusCode)
	}
	e.holdBudget(t, firstChunk/2)
	if resp := post(); resp.StatusCode != 503 {
		t.Fatalf("chunked upload over budget: %d", resp.StatusCode)
	}
}

// TestFetchBudget: an external fetch reserves its body (declared or not)
// before reading it.
func TestFetchBudget(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	png := sourceOf(t, FormatPNG, 64, 64)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized.png" {
			w.Header().Set("Content-Length", strconv.Itoa(len(png)))
		} else {
			w.(http.Flusher).Flush() // no length: chunked
		}
		_, _ = w.Write(png)
	}), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close(); <-served })
	e := newTestServer(t, func(c *Config) {
		c.Limits.MaxBytes, c.BodyBudget = 1<<20, 1<<20
		c.Fetch = FetcherConfig{Timeout: 2 * time.Second, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	})
	t.Cleanup(e.srv.fetcher.CloseIdle)
	for i, name := range []string{"sized.png", "chunked.png"} {
		t.Run(name, func(t *testing.T) {
			p, err := e.srv.signer.SignExternal("http://" + ln.Addr().String() + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			e.holdBudget(t, int64(len(png))/2) // neither the declared body nor a first chunk fits
			resp, body := e.get(t, withQuery(p+"?", "width="+strconv.Itoa(16+i)))
			wantError(t, resp, body, 503, "overloaded")
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
	if n := e.metric(t, "parley_media_body_budget_rejects_total"); n != 2 {
		t.Fatalf("budget rejects %v, want 2", n)
	}
}

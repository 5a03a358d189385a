package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

// recorder is a fake component handler: it answers 200 with its name and
// the path it saw, and remembers the paths.
type recorder struct {
	name  string
	mu    sync.Mutex
	paths []string
}

func (h *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.paths = append(h.paths, r.URL.Path)
	h.mu.Unlock()
	_, _ = io.WriteString(w, h.name+" "+r.URL.Path+" "+r.RemoteAddr)
}

func (h *recorder) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...)
}

type testOrigin struct {
	o                     *Origin
	api, gw, media, voice *recorder
	client                *http.Client
	clientTLS             *tls.Config
	base, addr            string
}

// startOrigin starts an origin on port 0 with recording handlers.
func startOrigin(t *testing.T, mod func(*Config)) *testOrigin {
	t.Helper()
	srv, cli := testkit.TLS(t)
	cli.ServerName = "127.0.0.1"
	to := &testOrigin{api: &recorder{name: "api"}, gw: &recorder{name: "gateway"}, media: &recorder{name: "media"},
		voice: &recorder{name: "voice"}, clientTLS: cli}
	cfg := Config{TLS: srv, API: to.api, Gateway: to.gw, Media: to.media, Voice: to.voice, VoiceEndpoint: "voice.test:8444"}
	if mod != nil {
		mod(&cfg)
	}
	o, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := o.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cli, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	to.o, to.client, to.addr, to.base = o, &http.Client{Transport: tr}, o.Addr(), "https://"+o.Addr()
	return to
}

func (to *testOrigin) do(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, to.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := to.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOriginRoutes: each path reaches its handler over HTTPS (HTTP/2 for
// the page), with the browser's own address; the media proxy sees only its
// public routes, with /media stripped; upgrades elsewhere than /gateway
// and the media proxy's other routes are 404 with Discord's body.
func TestOriginRoutes(t *testing.T) {
	testkit.NoLeaks(t)
	to := startOrigin(t, nil)
	tests := []struct {
		method, path string
		hdr          []string
		status       int
		body         string
	}{
		{"GET", "/", nil, 200, "Parley"},
		{"GET", "/channels/1/2", nil, 200, "Parley"},
		{"GET", "/voice/voice.js", nil, 200, "VoiceConnection"},
		{"GET", "/api/v10/users/@me", nil, 200, "api /api/v10/users/@me 127.0.0.1:"},
		{"POST", "/api/v9/auth/login", nil, 200, "api /api/v9/auth/login"},
		{"GET", "/api/v10/gateway", nil, 200, `{"url":"wss://` + to.addr + `/gateway"}`},
		{"GET", "/gateway", nil, 200, "gateway /gateway"},
		{"GET", "/media/attachments/1/2/a.png", nil, 200, "media /attachments/1/2/a.png 127.0.0.1:"},
		{"HEAD", "/media/external/sig/aHR0cA", nil, 200, ""},
		{"GET", "/media/metrics", nil, 404, `{"code":0,"message":"404: Not Found"}`},
		{"GET", "/media/healthz", nil, 404, `"code":0`},
		{"POST", "/media/upload/1", nil, 404, `"code":0`},
		{"POST", "/media/attachments/1/2/a.png", nil, 404, `"code":0`},
		{"GET", "/metrics", nil, 404, `"code":0`},
		{"GET", "/", []string{"Upgrade", "websocket"}, 404, "/gateway"},
		{"GET", "/voice", nil, 200, `{"endpoint":"voice.test:8444"}`},
		{"HEAD", "/voice/", nil, 200, ""},
		{"POST", "/voice", nil, 405, `"code":0`},
		{"GET", "/voice/?v=8", []string{"Upgrade", "websocket"}, 200, "voice /voice/ 127.0.0.1:"},
		{"GET", "/voice/x", []string{"Upgrade", "websocket"}, 404, "/voice/"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var resp *http.Response
			var body string
			if tt.hdr != nil { // net/http's HTTP/2 client refuses Upgrade
				resp, body = rawRequest(t, to, tt.method+" "+tt.path+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			} else {
				resp, body = to.do(t, tt.method, tt.path)
				if resp.ProtoMajor != 2 {
					t.Fatalf("%s, want HTTP/2", resp.Proto)
				}
			}
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("no nosniff")
			}
		})
	}
	for _, p := range to.media.seen() {
		if !strings.HasPrefix(p, "/attachments/") && !strings.HasPrefix(p, "/external/") {
			t.Fatalf("the media proxy saw %s", p)
		}
	}
	// The media proxy's answer carries its own sandboxing policy (one
	// definition, in mediaproxy): the origin adds none that would replace
	// or contradict it (this recorder sets none).
	resp, _ := to.do(t, "GET", "/media/attachments/1/2/a.png")
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "" {
		t.Fatalf("the origin set a policy of its own on a media answer: %q", csp)
	}
}

// rawRequest sends req over TLS with HTTP/1.1 and reads the answer.
func rawRequest(t *testing.T, to *testOrigin, req string) (*http.Response, string) {
	t.Helper()
	cfg := to.clientTLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", to.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOriginBadInput: plain HTTP on the TLS port gets a 400 saying so,
// oversized headers 431, a component that does not run 503, and a client
// over the per-IP cap is closed before the TLS handshake.
func TestOriginBadInput(t *testing.T) {
	testkit.NoLeaks(t)
	to := startOrigin(t, func(c *Config) { c.API, c.Media, c.MaxHeaderBytes, c.MaxConnsPerIP = nil, nil, 4096, 2 })
	t.Run("plain HTTP", func(t *testing.T) {
		c, err := net.Dial("tcp", to.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(c)
		if !strings.HasPrefix(string(b), "HTTP/1.0 400") || !strings.Contains(string(b), "HTTPS") {
			t.Fatalf("answer %q", b)
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		resp, _ := rawRequest(t, to, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\n\r\n")
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%d, want 431", resp.StatusCode)
		}
	})
	t.Run("not running", func(t *testing.T) {
		for _, p := range []string{"/api/v10/users/@me", "/media/attachments/1/2/a.png"} {
			if resp, body := to.do(t, "GET", p); resp.StatusCode != 503 || !strings.Contains(body, "does not run") {
				t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
			}
		}
		to.client.CloseIdleConnections()
	})
	t.Run("per-IP cap", func(t *testing.T) {
		ip := netip.MustParseAddr("127.0.0.1")
		testkit.Eventually(t, 5*time.Second, func() bool { open, _ := to.o.ln.Open(ip); return open == 0 }, "earlier connections still open")
		for range 2 {
			c, err := tls.Dial("tcp", to.addr, to.clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
		}
		if c, err := tls.Dial("tcp", to.addr, to.clientTLS); err == nil {
			c.Close()
			t.Fatal("a third connection from one address was served")
		}
		if to.o.Refused() == 0 {
			t.Fatal("refusal not counted")
		}
	})
}

// TestOriginLifecycle: Close without Start releases the listener, Start
// after Close and a second Start fail, Close is idempotent, and Close
// waits for a request in flight.
func TestOriginLifecycle(t *testing.T) {
	testkit.NoLeaks(t)
	srv, _ := testkit.TLS(t)
	o, err := New(Config{TLS: srv})
	if err != nil {
		t.Fatal(err)
	}
	addr := o.Addr()
	_ = o.Close(context.Background())
	_ = o.Close(context.Background())
	if err := o.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("listener open after Close")
	}
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no TLS: %v", err)
	}
	if _, err := New(Config{TLS: srv, ConnectSrc: []string{"javascript:x"}}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad connect-src: %v", err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	to := startOrigin(t, func(c *Config) { c.API = slow })
	if err := to.o.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	got := make(chan string, 1)
	go func() { _, b := to.do(t, "GET", "/api/v10/slow"); got <- b }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- to.o.Close(context.Background()) }()
	testkit.Eventually(t, 5*time.Second, func() bool { // Close has begun: the listener is closed
		c, err := net.Dial("tcp", to.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "the listener stayed open")
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if b := <-got; b != "done" {
		t.Fatalf("the request in flight got %q", b)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// FuzzRoute: any method and path is answered without a panic, and the
// media proxy never sees a path outside its public routes or a method
// other than GET and HEAD.
func FuzzRoute(f *testing.F) {
	f.Add("GET", "/media/attachments/1/2/x.png")
	f.Add("POST", "/media/upload/1")
	f.Add("GET", "/media/..%2fmetrics")
	f.Add("GET", "/api/v10/gateway")
	media, voice := &recorder{name: "media"}, &recorder{name: "voice"}
	o := &Origin{files: must(NewFiles(FS)), cfg: Config{API: &recorder{name: "api"}, Gateway: &recorder{name: "gateway"}, Media: media, Voice: voice}}
	f.Fuzz(func(t *testing.T, method, target string) {
		r, err := http.NewRequest(method, "https://x"+target, nil)
		if err != nil || r.URL.Path == "" {
			return
		}
		media.paths, voice.paths = nil, nil
		o.ServeHTTP(httptest.NewRecorder(), r)
		for _, p := range voice.seen() {
			if p != "/voice" && p != "/voice/" || r.Header.Get("Upgrade") == "" {
				t.Fatalf("%s %s reached the voice gateway as %s", method, target, p)
			}
		}
		for _, p := range media.seen() {
			if !strings.HasPrefix(p, "/attachments/") && !strings.HasPrefix(p, "/external/") || r.Method != "GET" && r.Method != "HEAD" { // "" is GET
				t.Fatalf("%s %s reached the media proxy as %s", method, target, p)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

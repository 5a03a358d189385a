package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
	"github.com/parleyhq/parley/internal/testkit"
	"github.com/parleyhq/parley/mediaproxy"
)

// webClient is an HTTPS client trusting the data dir's certificate.
func webClient(t *testing.T, dir string) (*http.Client, *tls.Config) {
	t.Helper()
	d, err := datadir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := d.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{RootCAs: pool}
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true} // it adds h2 to its config
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, cfg
}

func webCall(t *testing.T, c *http.Client, method, url, token string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode, b
}

// TestWebOrigin: `parley serve` serves, on one HTTPS origin, the page,
// the REST API (a browser registers), the gateway (it identifies over
// wss://), and a stored attachment through /media/, but not the media
// proxy's metrics.
func TestWebOrigin(t *testing.T) {
	dir := t.TempDir()
	_, ready := startServe(t, dir)
	addr, _ := ready["web"].(string)
	if addr == "" {
		t.Fatalf("ready line without web: %v", ready)
	}
	base := "https://" + addr
	c, tcfg := webClient(t, dir)

	// The page.
	code, page := webCall(t, c, "GET", base+"/", "", nil, nil)
	if code != 200 || !bytes.Contains(page, []byte("<html")) {
		t.Fatalf("GET /: %d %.80s", code, page)
	}
	// GET /gateway through the origin names the origin's own gateway.
	var gw struct{ URL string }
	if code, b := webCall(t, c, "GET", base+"/api/v10/gateway", "", nil, &gw); code != 200 || gw.URL != "wss://"+addr+"/gateway" {
		t.Fatalf("GET /api/v10/gateway: %d %s", code, b)
	}
	// A browser registers and identifies over wss://.
	var reg struct{ Token string }
	if code, b := webCall(t, c, "POST", base+"/api/v10/auth/register", "", map[string]string{"username": "webby", "password": "hunter2hunter2"}, &reg); code != 201 {
		t.Fatalf("register: %d %s", code, b)
	}
	ws, _, err := (&websocket.Dialer{TLSClientConfig: tcfg}).Dial(gw.URL+"?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello struct{ Op int }
	if err := ws.ReadJSON(&hello); err != nil || hello.Op != 10 {
		t.Fatalf("hello: %+v %v", hello, err)
	}
	if err := ws.WriteJSON(map[string]any{"op": 2, "d": map[string]any{"token": reg.Token, "intents": 513, "properties": map[string]string{"os": "linux"}}}); err != nil {
		t.Fatal(err)
	}
	var rd struct {
		T string
		D struct {
			User             struct{ Username string }
			ResumeGatewayURL string `json:"resume_gateway_url"`
		}
	}
	if err := ws.ReadJSON(&rd); err != nil || rd.T != "READY" || rd.D.User.Username != "webby" || rd.D.ResumeGatewayURL != "wss://"+addr+"/gateway" {
		t.Fatalf("READY: %+v %v", rd, err)
	}

	// An attachment through /media/, resized.
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 64, 48))); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pic.png")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := parleyCmd(context.Background(), "media", "put", file, "--channel", "7", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("media put: %v", err)
	}
	var put mediaproxy.UploadResult
	if err := json.Unmarshal(out, &put); err != nil || !strings.HasPrefix(put.Path, "/attachments/") {
		t.Fatalf("media put printed %s (%v)", out, err)
	}
	code, img := webCall(t, c, "GET", base+"/media"+put.Path+"&width=32&format=png", "", nil, nil)
	if code != 200 || mediaproxy.Sniff(img) != mediaproxy.FormatPNG {
		t.Fatalf("GET /media%s: %d %.64q", put.Path, code, img)
	}
	// One policy, the media proxy's, on what the origin serves from it.
	if resp, err := c.Head(base + "/media" + put.Path); err != nil || resp.Header.Get("Content-Security-Policy") != mediaproxy.AttachmentCSP {
		t.Fatalf("HEAD /media%s: %v %v", put.Path, resp, err)
	} else {
		_ = resp.Body.Close()
	}
	for _, p := range []string{"/media/metrics", "/media/healthz", "/metrics"} {
		if code, b := webCall(t, c, "GET", base+p, "", nil, nil); code != 404 || !bytes.Contains(b, []byte(`"code":0`)) {
			t.Fatalf("GET %s: %d %s", p, code, b)
		}
	}
	if code, _ := webCall(t, c, "POST", base+"/media/upload/7", "", nil, nil); code != 404 {
		t.Fatalf("POST /media/upload: %d", code)
	}
}

// TestWebBadInput: plain HTTP on the TLS port is told to use HTTPS, a
// WebSocket upgrade elsewhere than /gateway is 404 with Discord's body,
// oversized headers are 431.
func TestWebBadInput(t *testing.T) {
	dir := t.TempDir()
	_, ready := startServe(t, dir, "--only", "web")
	addr, _ := ready["web"].(string)
	_, tcfg := webClient(t, dir)
	raw := func(useTLS bool, req string) string {
		t.Helper()
		var c net.Conn
		var err error
		if useTLS {
			cfg := tcfg.Clone()
			cfg.NextProtos = []string{"http/1.1"}
			c, err = tls.Dial("tcp", addr, cfg)
		} else {
			c, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.LimitReader(c, 4096))
		return string(b)
	}
	tests := []struct {
		name   string
		tls    bool
		req    string
		status string
		body   string
	}{
		{"plain HTTP", false, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 400", "HTTP request to an HTTPS server"},
		{"upgrade off /gateway", true, "GET /channels/1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nConnection: close\r\n\r\n", "HTTP/1.1 404", `"code":0`},
		{"oversized headers", true, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", "HTTP/1.1 431", ""},
		{"no chat in this process", true, "GET /api/v10/users/@me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 503", "chat does not run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := raw(tt.tls, tt.req)
			if !strings.HasPrefix(got, tt.status) || !strings.Contains(got, tt.body) {
				t.Fatalf("answer %.300q, want %s with %q", got, tt.status, tt.body)
			}
		})
	}
}

// TestWebPublicHost: --public-host names the web URL in the ready JSON
// and the last start-up line and the voice endpoint, and is added to the
// data dir's certificate (with the loopback names kept); chat's plain
// listeners stay on loopback.
func TestWebPublicHost(t *testing.T) {
	dir := t.TempDir()
	_, ready, out := startServeOut(t, dir, "--public-host", "parley.test,192.0.2.7", "--only", "voice,chat,web",
		"--voice-public-ip", "127.0.0.1")
	addr, _ := ready["web"].(string)
	_, port, _ := net.SplitHostPort(addr)
	wantURL := "https://parley.test:" + port + "/"
	if ready["web_url"] != wantURL {
		t.Fatalf("web_url %v, want %s", ready["web_url"], wantURL)
	}
	if line, err := out.ReadString('\n'); err != nil || !strings.HasPrefix(line, "open "+wantURL+" in a browser (its certificate is the data dir's self-signed one") {
		t.Fatalf("last start-up line %q (%v)", line, err)
	}
	if ep, _ := ready["voice_gateway"].(string); !strings.HasPrefix(ep, "parley.test:") {
		t.Fatalf("voice endpoint %q", ep)
	}
	// Chat's plain listeners (passwords and tokens in clear) stay on
	// loopback, and the gateway URL they give out is where they listen.
	c, _ := webClient(t, dir)
	var gw struct{ URL string }
	api, _ := ready["api"].(string)
	gwAddr, _ := ready["gateway"].(string)
	if !strings.HasPrefix(api, "127.0.0.1:") || !strings.HasPrefix(gwAddr, "127.0.0.1:") {
		t.Fatalf("chat listeners moved: api %s, gateway %s", api, gwAddr)
	}
	if code, b := webCall(t, c, "GET", "http://"+api+"/api/v10/gateway", "", nil, &gw); code != 200 || gw.URL != "ws://"+gwAddr {
		t.Fatalf("chat gateway URL: %d %s, want ws://%s", code, b, gwAddr)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"parley.test", "192.0.2.7", "localhost", "127.0.0.1"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}
	// The page is served to the public name (resolved here to loopback).
	tcfg := &tls.Config{RootCAs: x509.NewCertPool(), ServerName: "parley.test"}
	tcfg.RootCAs.AddCert(cert)
	tc, err := tls.Dial("tcp", addr, tcfg)
	if err != nil {
		t.Fatalf("TLS as parley.test: %v", err)
	}
	tc.Close()
}

// TestWebDisabled: --web-addr "" turns the web listener off.
func TestWebDisabled(t *testing.T) {
	_, ready, out := startServeOut(t, t.TempDir(), "--only", "chat,web", "--web-addr=")
	if _, ok := ready["web"]; ok {
		t.Fatalf("web listener with --web-addr \"\": %v", ready)
	}
	if _, ok := ready["web_url"]; ok {
		t.Fatalf("web_url without a web listener: %v", ready)
	}
	_ = out
}

// TestURLsKnownBeforeChat: the web origin's and the media listener's
// public URLs, which chat signs attachment URLs with, are set before any
// component starts, with the ports their listeners were bound to (port 0
// here): a component starting where chat does (order 20, before media and
// web) already sees the attachment base of the running server.
func TestURLsKnownBeforeChat(t *testing.T) {
	cases := []struct {
		name, only string
		want       func(ready map[string]any) string
	}{
		{"web origin", "probe,media,web", func(r map[string]any) string { return "https://" + r["web"].(string) + "/media" }},
		{"media listener", "probe,media", func(r map[string]any) string { return "http://" + r["media"].(string) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seen := make(chan string, 1)
			probe := &component{name: "probe", order: 20, start: func(_ context.Context, env *serveEnv) (*running, error) {
				seen <- env.attachmentBase()
				return &running{}, nil
			}}
			registerComponent(probe)
			t.Cleanup(func() { components = slices.DeleteFunc(components, func(x *component) bool { return x == probe }) })
			ctx, cancel := context.WithCancel(context.Background())
			out := &testkit.SyncBuffer{}
			done := make(chan error, 1)
			go func() { // owned by the test: it ends when ctx is cancelled
				done <- runServe(ctx, []string{"--data-dir", t.TempDir(), "--only", c.only, "--log-level", "error",
					"--web-addr", "127.0.0.1:0", "--media-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, out)
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			var base string
			select {
			case base = <-seen:
			case err := <-done:
				t.Fatalf("serve ended: %v", err)
			}
			testkit.Eventually(t, 30*time.Second, func() bool { return strings.Contains(out.String(), "\n") }, "no ready line")
			var ready map[string]any
			line, _, _ := strings.Cut(out.String(), "\n")
			if err := json.Unmarshal([]byte(line), &ready); err != nil {
				t.Fatalf("ready line %q: %v", line, err)
			}
			if want := c.want(ready); base != want {
				t.Fatalf("attachment base at chat's start %q, want %q", base, want)
			}
		})
	}
}

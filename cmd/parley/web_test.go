package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/internal/datadir"
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
	for _, p := range []string{"/media/metrics", "/media/healthz", "/metrics"} {
		if code, b := webCall(t, c, "GET", base+p, "", nil, nil); code != 404 || !bytes.Contains(b, []byte(`"code":0`)) {
			t.Fatalf("GET %s: %d %s", p, code, b)
		}
	}
	if code, _ := webCall(t, c, "POST", base+"/media/upload/7", "", nil, nil); code != 404 {
		t.Fatalf("POST /media/upload: %d", code)
	}
}

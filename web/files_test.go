package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func testFiles(t *testing.T) *Files {
	t.Helper()
	f, err := NewFiles(fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><title>t</title>")},
		"app/app.js":      {Data: []byte("export {};")},
		"app/app.test.js": {Data: []byte("import test from 'node:test';")},
		"app/style.css":   {Data: []byte("body{}")},
		"app/blob.bin":    {Data: []byte{0, 1}},
		"voice/voice.js":  {Data: []byte("export class VoiceConnection {}")},
		"dave/dave.wasm":  {Data: []byte("\x00asm\x01\x00\x00\x00")},
	}, "wss://127.0.0.1:8444")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func get(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.Host = "example.test:8443"
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestFiles: deep links get the page, files their own type, unknown paths
// 404; every answer is no-cache with an ETag (304 on a match), nosniff
// and the page's policy.
func TestFiles(t *testing.T) {
	f := testFiles(t)
	tests := []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"GET", "/login", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"GET", "/channels/1/2", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"GET", "/index.html", 200, "text/html; charset=utf-8", "<!doctype html>"},
		{"GET", "/app/app.js", 200, "text/javascript; charset=utf-8", "export {};"},
		{"GET", "/voice/voice.js", 200, "text/javascript; charset=utf-8", "export class"},
		{"GET", "/dave/dave.wasm", 200, "application/wasm", "\x00asm"},
		{"GET", "/app/style.css", 200, "text/css; charset=utf-8", "body{}"},
		{"GET", "/app/blob.bin", 200, "application/octet-stream", "\x00\x01"},
		{"HEAD", "/app/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"GET", "/app/", 404, "application/json", `"code":0`},
		{"GET", "/app/missing.js", 404, "application/json", `"404: Not Found"`},
		{"GET", "/app/app.test.js", 404, "application/json", `"404: Not Found"`},
		{"GET", "/app/../index.html", 404, "application/json", `"code":0`},
		{"GET", "/favicon.ico", 404, "application/json", `"code":0`},
		{"GET", "/loginx", 404, "application/json", `"code":0`},
		{"POST", "/", 405, "application/json", `"405: Method Not Allowed"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := get(f, tt.method, tt.path)
			h := w.Header()
			if w.Code != tt.status || h.Get("Content-Type") != tt.ctype || !strings.HasPrefix(w.Body.String(), tt.body) && !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("%d %q %q", w.Code, h.Get("Content-Type"), w.Body.String())
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Fatalf("headers %v", h)
			}
			if tt.status == 200 && (h.Get("Cache-Control") != "no-cache" || h.Get("ETag") == "") {
				t.Fatalf("caching headers %v", h)
			}
		})
	}
	etag := get(f, "GET", "/app/app.js").Header().Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		if w := get(f, "GET", "/app/app.js", "If-None-Match", inm); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Fatalf("If-None-Match %s: %d", inm, w.Code)
		}
	}
	if w := get(f, "GET", "/app/app.js", "If-None-Match", `"stale"`); w.Code != 200 {
		t.Fatalf("stale ETag: %d", w.Code)
	}
	if get(f, "GET", "/").Header().Get("ETag") == get(f, "GET", "/app/app.js").Header().Get("ETag") {
		t.Fatal("two files share an ETag")
	}
}

// TestPolicy: the page may connect to its own origin (its wss:// URL
// too) and to the sources it was given, and loads nothing from anywhere
// else; a Host that is not a plain host adds nothing.
func TestPolicy(t *testing.T) {
	f := testFiles(t)
	want := "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; " +
		"connect-src 'self' wss://example.test:8443 wss://127.0.0.1:8444; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	if got := f.policy("example.test:8443"); got != want {
		t.Fatalf("policy\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"", "a b", "x;script-src *", "x'y"} {
		if p := f.policy(bad); !strings.Contains(p, "connect-src 'self' wss://127.0.0.1:8444;") {
			t.Fatalf("host %q: %s", bad, p)
		}
	}
	if _, err := NewFiles(fstest.MapFS{"index.html": {}}, "ws://x; script-src *"); err == nil {
		t.Fatal("a bad connect-src was accepted")
	}
	if _, err := NewFiles(fstest.MapFS{"app/app.js": {}}); err != ErrNoIndex {
		t.Fatalf("no index: %v", err)
	}
}

// TestEmbedded: the binary carries the page, the app module, the voice
// module and the DAVE modules, and dave.wasm when `make web` built it.
func TestEmbedded(t *testing.T) {
	f, err := NewFiles(FS)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/", "/app/app.js", "/voice/voice.js", "/dave/dave.js", "/dave/module.js", "/dave/mls-worker.js", "/dave/media-worker.js"}
	if _, err := os.Stat("dave/dave.wasm"); err == nil {
		paths = append(paths, "/dave/dave.wasm", "/dave/wasm_exec.js")
	}
	for _, p := range paths {
		if w := get(f, "GET", p); w.Code != 200 || w.Body.Len() == 0 {
			t.Fatalf("%s: %d", p, w.Code)
		}
	}
}

// FuzzPolicy: whatever Host a request names, the page's policy is one
// header value whose directives are the fixed ones: a host that is not a
// plain host[:port] adds nothing, and none can add a directive or a
// source list separator.
func FuzzPolicy(f *testing.F) {
	for _, h := range []string{"example.test:8443", "[::1]:8443", "a; script-src *", "x,y", "", "h\r\nX: y"} {
		f.Add(h)
	}
	files := &Files{}
	want := strings.Count(files.policy(""), ";")
	f.Fuzz(func(t *testing.T, host string) {
		p := files.policy(host)
		if strings.Count(p, ";") != want || strings.ContainsAny(p, ",\r\n\x00") {
			t.Fatalf("host %q made policy %q", host, p)
		}
		if validHost(host) != strings.Contains(p, "wss://"+host) {
			t.Fatalf("host %q (valid %v) in policy %q", host, validHost(host), p)
		}
	})
}

// TestGzip: a file with a gzipped copy beside it goes gzipped to a client
// that accepts gzip, as is to others; the copy has no path of its own;
// other files are never gzipped.
func TestGzip(t *testing.T) {
	big := bytes.Repeat([]byte("dave.wasm "), 20000)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(big)
	_ = zw.Close()
	f, err := NewFiles(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}, "dave/dave.wasm": {Data: big},
		"dave/dave.wasm.gz": {Data: gz.Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	w := get(f, "GET", "/dave/dave.wasm", "Accept-Encoding", "gzip, deflate, br")
	if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" || w.Body.Len() >= len(big)/10 {
		t.Fatalf("gzip: %v, %d bytes", w.Header(), w.Body.Len())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("gunzip: %v", err)
	}
	for _, ae := range []string{"", "br", "gzip;q=0", "deflate, gzip; q=0", "gzip;q=0.0000"} {
		w := get(f, "GET", "/dave/dave.wasm", "Accept-Encoding", ae)
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), big) {
			t.Fatalf("Accept-Encoding %q: %v", ae, w.Header())
		}
	}
	if w := get(f, "GET", "/", "Accept-Encoding", "gzip"); w.Header().Get("Content-Encoding") != "" {
		t.Fatal("a file without a .gz copy was gzipped")
	}
	if w := get(f, "GET", "/dave/dave.wasm.gz"); w.Code != 404 {
		t.Fatalf("the .gz copy is served by its name: %d", w.Code)
	}
}

// FuzzAcceptsGzip: any Accept-Encoding value is parsed without a panic,
// and one that names no gzip never gets it.
func FuzzAcceptsGzip(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0", "br, gzip;q=0.5", "", ",,;", "GZIP ; q=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ae string) {
		if acceptsGzip(ae) && !strings.Contains(strings.ToLower(ae), "gzip") {
			t.Fatalf("%q accepts gzip", ae)
		}
	})
}

package mediaproxy

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/testkit"
)

func zipOf(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, err := w.Create("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("hello"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const (
	htmlFile = "<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
	svgFile  = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>`
	jsFile   = "fetch('/api/users/@me').then(r => r.json())\n"
	pdfFile  = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)

// fileCase is one upload: what the store records and how it is served.
type fileCase struct {
	name, filename, declared string
	data                     []byte
	kind                     Kind
	contentType              string // recorded
	served                   string // Content-Type served
	disposition              string // "inline" or "attachment"
	w, h                     int
	err                      error
}

func fileCases(t *testing.T) []fileCase {
	oriented := exifOriented(sourceOf(t, FormatJPEG, 64, 48), 6)
	return []fileCase{
		{name: "html", filename: "page.html", declared: "text/plain", data: []byte(htmlFile), kind: KindFile,
			contentType: "text/html; charset=utf-8", served: "application/octet-stream", disposition: "attachment"},
		{name: "html named txt", filename: "notes.txt", data: []byte(htmlFile), kind: KindFile,
			contentType: "text/html; charset=utf-8", served: "application/octet-stream", disposition: "attachment"},
		{name: "svg", filename: "logo.svg", declared: "image/svg+xml", data: []byte(svgFile), kind: KindFile,
			contentType: "image/svg+xml", served: "application/octet-stream", disposition: "attachment"},
		{name: "js", filename: "app.js", data: []byte(jsFile), kind: KindFile,
			contentType: "text/javascript; charset=utf-8", served: "application/octet-stream", disposition: "attachment"},
		{name: "pdf", filename: "doc.pdf", data: []byte(pdfFile), kind: KindFile,
			contentType: "application/pdf", served: "application/octet-stream", disposition: "attachment"},
		{name: "zip", filename: "a.zip", data: zipOf(t), kind: KindFile,
			contentType: "application/zip", served: "application/zip", disposition: "attachment"},
		{name: "empty", filename: "empty", data: []byte{}, kind: KindFile,
			contentType: "application/octet-stream", served: "application/octet-stream", disposition: "attachment"},
		{name: "empty txt", filename: "empty.txt", data: nil, kind: KindFile,
			contentType: "text/plain", served: "text/plain", disposition: "inline"},
		{name: "text", filename: "readme.md", declared: "text/html", data: []byte("# Hello\nplain words\n"), kind: KindFile,
			contentType: "text/markdown; charset=utf-8", served: "text/markdown; charset=utf-8", disposition: "attachment"},
		{name: "plain text", filename: "log", data: []byte("just text\n"), kind: KindFile,
			contentType: "text/plain; charset=utf-8", served: "text/plain; charset=utf-8", disposition: "inline"},
		{name: "unknown binary, declared type", filename: "clip", declared: "video/mp4", data: []byte{0, 1, 2, 3, 0xFE}, kind: KindFile,
			contentType: "video/mp4", served: "video/mp4", disposition: "inline"},
		{name: "declared image type ignored", filename: "x.bin", declared: "image/png", data: []byte{0, 1, 2, 3, 0xFE}, kind: KindFile,
			contentType: "application/octet-stream", served: "application/octet-stream", disposition: "attachment"},
		{name: "unicode name", filename: "résumé \"final\".html", data: []byte(htmlFile), kind: KindFile,
			contentType: "text/html; charset=utf-8", served: "application/octet-stream", disposition: "attachment"},
		{name: "png", filename: "a.txt", declared: "text/plain", data: sourceOf(t, FormatPNG, 40, 30), kind: KindImage,
			contentType: "image/png", w: 40, h: 30},
		{name: "orientation 6 jpeg", filename: "phone.jpg", data: oriented, kind: KindImage,
			contentType: "image/jpeg", w: 48, h: 64},
		{name: "png bomb", filename: "bomb.png", data: pngBomb(100000, 100000, 6, 100000), err: ErrImageBomb},
		{name: "truncated jpeg", filename: "cut.jpg", data: sourceOf(t, FormatJPEG, 64, 48)[:60], err: ErrUndecodable},
		{name: "too large", filename: "big.txt", data: bytes.Repeat([]byte("a"), 1<<20+1), err: ErrTooLarge},
	}
}

// TestPutFile stores each case and checks its record, as PutFile returns
// it and as Get reads it back from disk.
func TestPutFile(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lim := DefaultLimits()
	lim.MaxBytes = 1 << 20
	for _, c := range fileCases(t) {
		t.Run(c.name, func(t *testing.T) {
			a, err := st.PutFile("7", c.filename, c.declared, c.data, lim, time.Now())
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st2, _ := OpenStore(st.Root()) // no record cache: read from disk
			got, err := st2.Get("7", a.ID)
			if err != nil || got != a {
				t.Fatalf("Get: %+v %v, want %+v", got, err, a)
			}
			if a.Kind != c.kind || a.ContentType != c.contentType || a.Width != c.w || a.Height != c.h || a.Size != int64(len(c.data)) {
				t.Fatalf("record %+v, want kind %s type %q %dx%d", a, c.kind, c.contentType, c.w, c.h)
			}
		})
	}
}

// TestPutImagesOnly: Put keeps refusing what is not an image.
func TestPutImagesOnly(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put("7", "a.html", []byte(htmlFile), DefaultLimits(), time.Now()); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Put html: %v, want ErrUnsupported", err)
	}
	a, err := st.Put("7", "a.png", sourceOf(t, FormatPNG, 8, 8), DefaultLimits(), time.Now())
	if err != nil || a.Kind != KindImage {
		t.Fatalf("Put png: %+v %v", a, err)
	}
}

// TestOldRecordsLoad: a record written before kinds existed is an image.
func TestOldRecordsLoad(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Put("7", "a.gif", sourceOf(t, FormatGIF, 8, 8), DefaultLimits(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	old := `{"id":"` + a.ID + `","channel_id":"7","filename":"a.gif","sha256":"` + a.SHA256 +
		`","size":` + itoa(a.Size) + `,"format":"gif","width":8,"height":8,"frames":1,"created":"2026-01-02T03:04:05Z"}`
	if err := os.WriteFile(filepath.Join(st.Root(), "attachments", "7", a.ID+".json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	st2, _ := OpenStore(st.Root())
	got, err := st2.Get("7", a.ID)
	if err != nil || got.Kind != KindImage || got.ContentType != "image/gif" || got.Width != 8 {
		t.Fatalf("old record: %+v %v", got, err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// putFile stores a file through PutFile and returns its signed path.
func (e *testEnv) putFile(t testing.TB, name, declared string, data []byte) (Attachment, string) {
	t.Helper()
	a, err := e.store.PutFile("100", name, declared, data, e.srv.Limits(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return a, e.srv.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, time.Now(), time.Hour)
}

func wantSafeHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") != AttachmentCSP {
		t.Fatalf("status %d without nosniff/sandbox CSP: %v", resp.StatusCode, resp.Header)
	}
}

// TestServeFiles serves each stored file: the original bytes, never an
// active content type, a download unless passive, and nosniff plus the
// sandbox CSP on every response.
func TestServeFiles(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, func(c *Config) { c.Limits.MaxBytes = 1 << 20 })
	for _, c := range fileCases(t) {
		if c.err != nil || c.kind != KindFile {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			a, p := e.putFile(t, c.filename, c.declared, c.data)
			resp, body := e.get(t, p)
			if resp.StatusCode != 200 || !bytes.Equal(body, c.data) {
				t.Fatalf("status %d, %d bytes (want %d)", resp.StatusCode, len(body), len(c.data))
			}
			wantSafeHeaders(t, resp)
			if ct := resp.Header.Get("Content-Type"); ct != c.served {
				t.Fatalf("Content-Type %q, want %q", ct, c.served)
			}
			want := contentDisposition(c.disposition == "inline", a.Filename)
			if cd := resp.Header.Get("Content-Disposition"); cd != want || !strings.HasPrefix(cd, c.disposition+"; filename*=UTF-8''") {
				t.Fatalf("Content-Disposition %q, want %q", cd, want)
			}
			resp, body = e.get(t, withQuery(p, "width=64"))
			wantError(t, resp, body, 400, "bad_options")
			wantSafeHeaders(t, resp)
			if !strings.Contains(string(body), "is a file") {
				t.Fatalf("resize on a file: %s", body)
			}
		})
	}
}

// TestAttachmentCSPOnServeHTTP: the net/http front (which the web origin
// serves under /media) answers with the one policy, and that policy lets
// a browser's own document for an inline video, audio or text file show
// it (media-src 'self', inline styles) while sandboxing it.
func TestAttachmentCSPOnServeHTTP(t *testing.T) {
	e := newTestServer(t, nil)
	for _, part := range []string{"sandbox", "default-src 'none'", "media-src 'self'", "img-src 'self'", "style-src 'unsafe-inline'"} {
		if !strings.Contains(AttachmentCSP, part) {
			t.Fatalf("AttachmentCSP %q lacks %q", AttachmentCSP, part)
		}
	}
	cases := []struct {
		name, filename, declared string
		data                     []byte
		status                   int
	}{
		{"video", "clip.mp4", "video/mp4", []byte{0, 1, 2, 3, 0xFE}, 200},
		{"audio", "voice.ogg", "audio/ogg", []byte{0, 1, 2, 3, 0xFE}, 200},
		{"text", "notes.txt", "text/plain", []byte("hello\n"), 200},
		{"image", "a.png", "", sourceOf(t, FormatPNG, 40, 30), 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, p := e.putFile(t, c.filename, c.declared, c.data)
			w := httptest.NewRecorder()
			e.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
			if w.Code != c.status || w.Header().Get("Content-Security-Policy") != AttachmentCSP || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%d %v", w.Code, w.Header())
			}
		})
	}
}

func TestContentDisposition(t *testing.T) {
	for _, c := range []struct {
		name string
		want string
	}{
		{"a.txt", "a.txt"},
		{"résumé \"final\".html", "r%C3%A9sum%C3%A9%20%22final%22.html"},
		{"a;b=c,d'e%f.bin", "a%3Bb%3Dc%2Cd%27e%25f.bin"},
	} {
		if got := contentDisposition(false, c.name); got != "attachment; filename*=UTF-8''"+c.want {
			t.Fatalf("%q: %q", c.name, got)
		}
	}
}

// TestSVGNeverServedAsImage: an SVG stored by mistake as an image record
// goes to the pipeline, which refuses it (libvips never sees it); stored
// as what it is, a file, it is a download.
func TestSVGNeverServedAsImage(t *testing.T) {
	e := newTestServer(t, nil)
	resp, body := e.get(t, e.put(t, "x.svg", []byte(svgFile)))
	wantError(t, resp, body, 415, "unsupported_format")
	wantSafeHeaders(t, resp)
	_, p := e.putFile(t, "x.svg", "", []byte(svgFile))
	resp, _ = e.get(t, p, "Accept", "image/svg+xml,image/*")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("svg file: %d %v", resp.StatusCode, resp.Header)
	}
	if e.srv.stats.Decodes.Load() != 0 {
		t.Fatal("libvips decoded an SVG")
	}
}

// TestSafeHeadersEverywhere: images, 304s and errors carry them too.
func TestSafeHeadersEverywhere(t *testing.T) {
	e := newTestServer(t, nil)
	p := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	resp, _ := e.get(t, p)
	wantSafeHeaders(t, resp)
	resp, _ = e.get(t, p, "If-None-Match", resp.Header.Get("ETag"))
	if resp.StatusCode != 304 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantSafeHeaders(t, resp)
	for _, path := range []string{"/nope", strings.Replace(p, "hm=", "hm=00", 1), "/healthz"} {
		resp, _ = e.get(t, path)
		wantSafeHeaders(t, resp)
	}
}

// TestFileRanges follows net/http's ServeContent where it is implemented:
// one range → 206, unsatisfiable or malformed → 416 with bytes */size,
// several ranges or a stale If-Range → the whole file.
func TestFileRanges(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, nil)
	data := []byte("0123456789abcdefghij")
	_, p := e.putFile(t, "digits.txt", "", data)
	resp, _ := e.get(t, p)
	etag := resp.Header.Get("ETag")
	if resp.Header.Get("Accept-Ranges") != "bytes" || etag == "" {
		t.Fatalf("headers %v", resp.Header)
	}
	for _, c := range []struct {
		name   string
		hdr    []string
		status int
		body   string
		cr     string
	}{
		{"first bytes", []string{"Range", "bytes=0-3"}, 206, "0123", "bytes 0-3/20"},
		{"open end", []string{"Range", "bytes=15-"}, 206, "fghij", "bytes 15-19/20"},
		{"suffix", []string{"Range", "bytes=-3"}, 206, "hij", "bytes 17-19/20"},
		{"end past size", []string{"Range", "bytes=18-99"}, 206, "ij", "bytes 18-19/20"},
		{"past the end", []string{"Range", "bytes=20-"}, 416, "", "bytes */20"},
		{"malformed", []string{"Range", "bytes=5-2"}, 416, "", "bytes */20"},
		{"not bytes", []string{"Range", "items=1-2"}, 416, "", "bytes */20"},
		{"several", []string{"Range", "bytes=0-1,5-6"}, 200, string(data), ""},
		{"if-range current", []string{"Range", "bytes=0-1", "If-Range", etag}, 206, "01", "bytes 0-1/20"},
		{"if-range stale", []string{"Range", "bytes=0-1", "If-Range", `"old"`}, 200, string(data), ""},
		{"if-none-match", []string{"If-None-Match", etag}, 304, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.get(t, p, c.hdr...)
			if resp.StatusCode != c.status || (c.status != 416 && string(body) != c.body) || resp.Header.Get("Content-Range") != c.cr {
				t.Fatalf("%d %q Content-Range %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
			}
			if c.status == 416 {
				wantError(t, resp, body, 416, "range_not_satisfiable")
			}
			wantSafeHeaders(t, resp)
		})
	}
	req, _ := http.NewRequest(http.MethodHead, e.base+p, nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
}

// TestFileDownloadClosed: Close ends a download a client stopped reading,
// and leaves no goroutine behind.
func TestFileDownloadClosed(t *testing.T) {
	testkit.NoLeaks(t, processGlobals...)
	e := newTestServer(t, nil)
	_, p := e.putFile(t, "big.bin", "", bytes.Repeat([]byte{0, 1, 2, 3}, 4<<20))
	c, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: media\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 512)
	if _, err := io.ReadAtLeast(c, head, 12); err != nil || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		t.Fatalf("response %q: %v", head, err)
	}
	// The client reads nothing more: the server blocks writing the rest
	// (16 MiB is more than the socket buffers hold) until Close.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want the graceful part to time out", err)
	}
}

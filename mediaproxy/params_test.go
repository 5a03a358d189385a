package mediaproxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var paramNames = []string{"ex", "is", "hm", "width", "height", "size", "format", "quality", "animated", "upscale", "filename"}

// checkParamsMatch asserts parseParams(raw) agrees with url.ParseQuery +
// Values.Get/Has for every name the handler reads.
func checkParamsMatch(t *testing.T, raw string) {
	t.Helper()
	v, _ := url.ParseQuery(raw) // on error, v holds the pairs that parsed
	p := parseParams(raw)
	for _, n := range paramNames {
		f := p.field(n)
		if f.ok != v.Has(n) || f.v != v.Get(n) {
			t.Fatalf("%q: %s = (%q, %v), url.Values (%q, %v)", raw, n, f.v, f.ok, v.Get(n), v.Has(n))
		}
	}
}

func TestParseParams(t *testing.T) {
	for _, raw := range []string{
		"",
		"ex=1&is=2&hm=ab&width=10",
		"width=1&width=2",               // first wins
		"width=%31%32&format=we%62p",    // escapes
		"format=a+b&filename=x%20y.png", // '+' is a space
		"width=%zz&width=5",             // bad escape drops the pair
		"w%zz=1&height=7",
		"width=1;height=2&size=64", // ';' drops the pair
		"&&=&width&height=",        // empty pairs, names without '='
		"WIDTH=5&Width=6",          // names are case-sensitive
		"%77idth=9",                // escaped name
	} {
		t.Run(raw, func(t *testing.T) { checkParamsMatch(t, raw) })
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("ex=1&is=2&hm=ab&width=10&format=webp")
	f.Add("width=%31;x&height=+1&&size")
	f.Fuzz(func(t *testing.T, raw string) { checkParamsMatch(t, raw) })
}

func TestVerifyAttachmentMalformed(t *testing.T) {
	s, err := NewSigner(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u, _ := url.Parse(s.SignAttachment("1", "2", "a.png", now, time.Hour))
	q := u.Query()
	ex, is, hm := q.Get("ex"), q.Get("is"), q.Get("hm")
	if err := s.VerifyAttachment("1", "2", "a.png", ex, is, hm, now); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := s.VerifyAttachment("1", "2", "a.png", ex, is, strings.ToUpper(hm), now); err != nil {
		t.Fatalf("upper-case hex: %v", err)
	}
	for _, bad := range []string{hm + "00", hm[:62], hm[:63] + "g", "", strings.Repeat("0", 64)} {
		if err := s.VerifyAttachment("1", "2", "a.png", ex, is, bad, now); err == nil {
			t.Fatalf("hm %q accepted", bad)
		}
	}
	sig := s.ExternalSignature("https://example.com/a.png")
	if err := s.VerifyExternal(sig, "https://example.com/a.png"); err != nil {
		t.Fatalf("external: %v", err)
	}
	for _, bad := range []string{sig + "AAAA", sig[:40], strings.Repeat("A", 200), sig + "=", ""} {
		if err := s.VerifyExternal(bad, "https://example.com/a.png"); err == nil {
			t.Fatalf("external signature %q accepted", bad)
		}
	}
}

func TestStoreRecordCache(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.PutRaw("5", "a.png", []byte("x"), Probe{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A fresh store (another process) reads the record from disk once.
	st2, err := OpenStore(st.Root())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := st2.Get("5", a.ID)
		if err != nil || got.SHA256 != a.SHA256 || got.Filename != "a.png" {
			t.Fatalf("get: %+v %v", got, err)
		}
	}
	st2.mu.RLock()
	n := len(st2.recs)
	st2.mu.RUnlock()
	if n != 1 {
		t.Fatalf("%d cached records, want 1", n)
	}
	for _, id := range []string{"999", "../5", "", strings.Repeat("1", 65)} {
		if _, err := st2.Get("5", id); err != ErrNotFound {
			t.Fatalf("id %q: %v", id, err)
		}
	}
}

// TestFrontsAgree sends the same requests through fasthttp and net/http
// and expects the same status, headers and body.
func TestFrontsAgree(t *testing.T) {
	now := time.Now() // one clock for both fronts: Cache-Control counts seconds to expiry
	e := newTestServer(t, func(c *Config) { c.Now = func() time.Time { return now } })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: e.srv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	p := e.put(t, "pic.jpg", sourceOf(t, FormatJPEG, 300, 200))
	_, fp := e.putFile(t, "notes é.txt", "", bytes.Repeat([]byte("some text\n"), 400))
	etag := ""
	for _, c := range []struct {
		method, path string
		hdr          []string
	}{
		{"GET", withQuery(p, "width=250&format=png"), nil}, // body > 2 KiB
		{"GET", withQuery(p, "width=250&format=png"), nil}, // memory hit
		{"HEAD", withQuery(p, "width=250&format=png"), nil},
		{"GET", withQuery(p, "width=250&format=png"), []string{"If-None-Match", "ETAG"}},
		{"GET", withQuery(p, "width=20"), []string{"Accept", "image/webp"}},
		{"GET", withQuery(p, "width=%32%30&format=we%62p#frag"), nil},
		{"GET", withQuery(p, "size=3"), nil},
		{"GET", "/attachments/1/2", nil},
		{"GET", fp, nil}, // a file: streamed
		{"HEAD", fp, nil},
		{"GET", fp, []string{"Range", "bytes=5-14"}},
		{"GET", fp, []string{"Range", "bytes=9999-"}},
	} {
		var got [2]*http.Response
		var body [2][]byte
		for i, base := range []string{e.base, "http://" + ln.Addr().String()} {
			req, _ := http.NewRequest(c.method, base+c.path, nil)
			for k := 0; k+1 < len(c.hdr); k += 2 {
				v := c.hdr[k+1]
				if v == "ETAG" {
					v = etag
				}
				req.Header.Set(c.hdr[k], v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body[i], _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			got[i] = resp
		}
		if got[0].StatusCode == 200 && etag == "" {
			etag = got[0].Header.Get("ETag")
		}
		if got[0].StatusCode != got[1].StatusCode || !bytes.Equal(body[0], body[1]) {
			t.Fatalf("%s %s: fasthttp %d (%d B), net/http %d (%d B)", c.method, c.path, got[0].StatusCode, len(body[0]), got[1].StatusCode, len(body[1]))
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "ETag", "Vary", "X-Content-Type-Options", "Content-Security-Policy",
			"Content-Disposition", "Content-Range", "Accept-Ranges"} {
			if a, b := got[0].Header.Get(h), got[1].Header.Get(h); a != b {
				t.Fatalf("%s %s: %s %q vs %q", c.method, c.path, h, a, b)
			}
		}
		if got[0].ContentLength != got[1].ContentLength {
			t.Fatalf("%s %s: Content-Length %d vs %d", c.method, c.path, got[0].ContentLength, got[1].ContentLength)
		}
		if c.method == "GET" && got[0].StatusCode == 200 && (got[0].ContentLength != int64(len(body[0])) || got[1].ContentLength != int64(len(body[1]))) {
			t.Fatalf("%s: Content-Length %d/%d for %d bytes", c.path, got[0].ContentLength, got[1].ContentLength, len(body[0]))
		}
	}
	if etag == "" {
		t.Fatal("no ETag seen")
	}
}

func TestStoreReadInto(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.PutRaw("5", "a.bin", []byte("hello"), Probe{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	got, err := st.ReadInto(a, 100, buf)
	if err != nil || string(got) != "hello" || &got[0] != &buf[:1][0] {
		t.Fatalf("ReadInto: %q %v (reused buffer: %v)", got, err, err == nil && &got[0] == &buf[:1][0])
	}
	if got, err := st.ReadInto(a, 100, nil); err != nil || string(got) != "hello" {
		t.Fatalf("ReadInto(nil): %q %v", got, err)
	}
	if _, err := st.ReadInto(a, 4, buf); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	b := a
	b.Size = 3 // the record is smaller than the blob: the blob is checked too
	if _, err := st.ReadInto(b, 4, buf); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("blob over the limit: %v", err)
	}
	b.SHA256 = strings.Repeat("0", 64)
	if _, err := st.ReadInto(b, 100, buf); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing blob: %v", err)
	}
}

// TestSourceBufferReuse runs many uncached jobs on sources of different
// sizes at once: each output must come from its own source, whatever
// pooled buffer it was read into.
func TestSourceBufferReuse(t *testing.T) {
	e := newTestServer(t, func(c *Config) { c.MemCacheBytes, c.CacheDir, c.Queue = 0, "", 64 })
	wide := e.put(t, "wide.jpg", sourceOf(t, FormatJPEG, 300, 100))
	tall := e.put(t, "tall.png", sourceOf(t, FormatPNG, 50, 200))
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for i := range 20 {
		for _, c := range []struct {
			path       string
			ratioW, rH int
			wantFmt    Format
		}{{wide, 3, 1, FormatJPEG}, {tall, 1, 4, FormatPNG}} {
			wg.Go(func() {
				w := 20 + i // below both sources' widths: no upscaling
				resp, body := e.get(t, withQuery(c.path, "width="+strconv.Itoa(w)))
				p, err := ProbeImage(body, 1)
				if resp.StatusCode != 200 || err != nil || p.Format != c.wantFmt || p.Width != w || absInt(p.Height*c.ratioW-w*c.rH) > c.ratioW {
					errs <- fmt.Sprintf("%s width %d: status %d probe %+v %v", c.path[:30], w, resp.StatusCode, p, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

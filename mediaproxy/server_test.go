package mediaproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type testEnv struct {
	srv    *Server
	base   string
	store  *Store
	key    []byte
	now    time.Time
	client *http.Client // its own transport: the test's connections only
}

func newTestServer(t testing.TB, mutate func(*Config)) *testEnv {
	t.Helper()
	return newHookedServer(t, mutate, nil)
}

// newHookedServer is newTestServer with hook run on the server before
// Start (tests swap the pipeline there).
func newHookedServer(t testing.TB, mutate func(*Config), hook func(*Server)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenStore(dir + "/store")
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	cfg := DefaultConfig()
	cfg.Key, cfg.Store, cfg.CacheDir = key, st, dir+"/cache"
	cfg.UploadToken = UploadToken(key)
	cfg.Workers, cfg.Queue = 2, 8
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(s)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return &testEnv{srv: s, base: "http://" + s.Addr(), store: st, key: key, now: time.Now(), client: client}
}

// put stores data without checks and returns its signed path.
func (e *testEnv) put(t testing.TB, name string, data []byte) string {
	t.Helper()
	a, err := e.store.PutRaw("100", name, data, Probe{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e.srv.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, time.Now(), time.Hour)
}

func (e *testEnv) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// metric reads one unlabelled series (or the sum of a labelled one's
// series) from /metrics.
func (e *testEnv) metric(t testing.TB, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	sum := 0.0
	for line := range strings.SplitSeq(rec.Body.String(), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

func withQuery(path, q string) string {
	if q == "" {
		return path
	}
	return path + "&" + q
}

func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil || eb.Code != code || eb.Status != status {
		t.Fatalf("error body %s, want code %q", body, code)
	}
	if strings.Contains(string(body), "goroutine") || strings.Contains(string(body), ".go:") {
		t.Fatalf("error leaks internals: %s", body)
	}
}

func TestServeAttachment(t *testing.T) {
	e := newTestServer(t, nil)
	p := e.put(t, "pic.png", sourceOf(t, FormatPNG, 64, 32))
	resp, body := e.get(t, withQuery(p, "width=32&format=webp"))
	if resp.StatusCode != 200 || Sniff(body) != FormatWebP || resp.Header.Get("Content-Type") != "image/webp" {
		t.Fatalf("status %d type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("missing ETag/Cache-Control: %v", resp.Header)
	}
	// If-None-Match → 304 without work.
	resp, _ = e.get(t, withQuery(p, "width=32&format=webp"), "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	// Equivalent options share the key (and so the ETag): format from
	// Accept, jpg alias, default quality spelled out, size vs width+height.
	resp, _ = e.get(t, withQuery(p, "width=32"), "Accept", "image/avif,image/webp,*/*")
	if resp.Header.Get("ETag") != etag || resp.Header.Get("Vary") != "Accept" {
		t.Fatalf("Accept-chosen webp: etag %s vary %q", resp.Header.Get("ETag"), resp.Header.Get("Vary"))
	}
	r1, _ := e.get(t, withQuery(p, "size=32&format=jpg"))
	r2, _ := e.get(t, withQuery(p, "width=32&height=32&format=jpeg&quality=80&animated=true"))
	if r1.StatusCode != 200 || r1.Header.Get("ETag") != r2.Header.Get("ETag") {
		t.Fatalf("canonical keys differ: %s vs %s", r1.Header.Get("ETag"), r2.Header.Get("ETag"))
	}
	if e.srv.metrics.hits.Load() < 2 {
		t.Fatalf("expected cache hits, got %d", e.srv.metrics.hits.Load())
	}
}

func TestSignatures(t *testing.T) {
	e := newTestServer(t, nil)
	p := e.put(t, "pic.png", sourceOf(t, FormatPNG, 16, 16))
	a, _ := e.store.PutRaw("100", "x.png", sourceOf(t, FormatPNG, 16, 16), Probe{}, time.Now())
	expired := e.srv.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, time.Now().Add(-2*time.Hour), time.Hour)
	cases := []struct {
		name, path string
		status     int
		code       string
	}{
		{"ok", p, 200, ""},
		{"tampered hm", strings.Replace(p, "hm=", "hm=00", 1), 403, "bad_signature"},
		{"missing", strings.Split(p, "?")[0], 403, "bad_signature"},
		{"other file", strings.Replace(p, "pic.png", "pic2.png", 1), 403, "bad_signature"},
		{"expired", expired, 403, "expired"},
		{"bad option", withQuery(p, "size=100"), 400, "bad_options"},
		{"bad quality", withQuery(p, "quality=0"), 400, "bad_options"},
		{"unknown route", "/nope", 404, "not_found"},
		{"external bad sig", "/external/AAAA/https/example.com/a.png", 403, "bad_signature"},
		{"unknown attachment", e.srv.signer.SignAttachment("100", "999", "a.png", time.Now(), time.Hour), 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.get(t, c.path)
			if c.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				return
			}
			wantError(t, resp, body, c.status, c.code)
		})
	}
}

func TestUploadEndpoint(t *testing.T) {
	e := newTestServer(t, nil)
	post := func(tok string, body []byte) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, e.base+"/upload/42?filename=a.jpg", bytes.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("wrong", sourceOf(t, FormatJPEG, 32, 32))
	wantError(t, resp, body, 401, "unauthorized")
	// Images are still probed at upload: a truncated JPEG is refused (any
	// other file is stored as a file: files_test.go).
	resp, body = post(UploadToken(e.key), sourceOf(t, FormatJPEG, 32, 32)[:40])
	wantError(t, resp, body, 415, "undecodable")
	resp, body = post(UploadToken(e.key), sourceOf(t, FormatJPEG, 32, 32))
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var ur UploadResult
	if err := json.Unmarshal(body, &ur); err != nil || ur.Format != "jpeg" || ur.Width != 32 || ur.Kind != KindImage || ur.ContentType != "image/jpeg" {
		t.Fatalf("upload result %s", body)
	}
	resp, body = e.get(t, withQuery(ur.Path, "width=16&format=png"))
	if resp.StatusCode != 200 || Sniff(body) != FormatPNG {
		t.Fatalf("serve uploaded: %d", resp.StatusCode)
	}
}

func TestCoalescing(t *testing.T) {
	e := newTestServer(t, nil)
	p := e.put(t, "big.jpg", sourceOf(t, FormatJPEG, 640, 480))
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			resp, _ := e.get(t, withQuery(p, "width=100&format=avif"))
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for _, c := range codes {
		if c != 200 {
			t.Fatalf("codes %v", codes)
		}
	}
	if d := e.srv.stats.Decodes.Load(); d != 1 {
		t.Fatalf("%d identical concurrent misses ran %d libvips jobs, want 1", n, d)
	}
}

func TestOverloaded(t *testing.T) {
	e := newTestServer(t, func(c *Config) { c.Workers, c.Queue, c.MemCacheBytes, c.CacheDir = 1, 0, 0, "" })
	// Hold the only worker.
	release, err := e.srv.pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	p := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	resp, body := e.get(t, p)
	wantError(t, resp, body, 503, "overloaded")
}

func TestRequestTimeout(t *testing.T) {
	e := newTestServer(t, func(c *Config) { c.Workers, c.Queue, c.Timeout = 1, 4, 300*time.Millisecond })
	release, err := e.srv.pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	p := e.put(t, "a.png", sourceOf(t, FormatPNG, 16, 16))
	resp, body := e.get(t, p)
	wantError(t, resp, body, 504, "timeout")
}

func TestHealthAndMetrics(t *testing.T) {
	e := newTestServer(t, nil)
	resp, body := e.get(t, "/healthz")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"concurrency":1`) || !strings.Contains(string(body), `"cache_max":0`) {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
	e.get(t, "/nope")
	resp, body = e.get(t, "/metrics")
	for _, m := range []string{"parley_media_requests_total{status=\"404\"}", "parley_media_queue_depth", "parley_media_cache_hit_ratio", "parley_media_processing_seconds"} {
		if !strings.Contains(string(body), m) {
			t.Fatalf("metrics missing %s (%d)", m, resp.StatusCode)
		}
	}
}

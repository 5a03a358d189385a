package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/parleyhq/parley/internal/httpserve"
)

// Files serves the client from an fs.FS (FS in production): index.html at
// the page's own paths (deep links the client routes itself: "/",
// "/login", "/register", "/channels/..."), every other file at its path
// (/app/app.js, /voice/voice.js), 404 for anything else. The files are
// read once, by NewFiles: each has its Content-Type from its extension (a
// fixed table, not the system's MIME files), an ETag of its content and
// Cache-Control: no-cache, so a browser revalidates (304) and always runs
// the binary's own version. A file X with a gzipped copy X.gz beside it
// (dave.wasm, by make web) goes gzipped to a browser that accepts it.
// Every answer carries nosniff and the page's Content-Security-Policy.
type Files struct {
	byPath     map[string]file // "/app/app.js" → file
	index      file
	connectSrc string // extra connect-src sources, space-separated
}

type file struct {
	body  []byte
	gz    []byte // body gzipped (from X.gz beside file X: dave.wasm.gz); nil if none
	ctype string
	etag  string
}

// NewFiles reads fsys (it must hold index.html). connectSrc are origins
// the page may connect to besides its own (the voice gateway's wss://
// URL, on another port): the policy's connect-src is 'self', the wss://
// URL of the host the page was loaded from, and these.
func NewFiles(fsys fs.FS, connectSrc ...string) (*Files, error) {
	f := &Files{byPath: map[string]file{}}
	for _, s := range connectSrc {
		if !validSource(s) {
			return nil, fmt.Errorf("%w: connect-src %q", ErrConfig, s)
		}
	}
	f.connectSrc = strings.Join(connectSrc, " ")
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".test.js") {
			return nil // the client's unit tests (node --test) are not the page
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		f.byPath["/"+p] = file{body: b, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: reading the client: %w", err)
	}
	// X.gz is X gzipped (make web writes dave.wasm.gz): sent for X to a
	// browser that accepts gzip, not served by its own name.
	for p, fl := range f.byPath {
		if orig, ok := strings.CutSuffix(p, ".gz"); ok {
			if o, ok := f.byPath[orig]; ok {
				o.gz = fl.body
				f.byPath[orig] = o
			}
			delete(f.byPath, p)
		}
	}
	idx, ok := f.byPath["/index.html"]
	if !ok {
		return nil, ErrNoIndex
	}
	f.index = idx
	return f, nil
}

// contentTypes are the types the client's files are served with.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff2": "font/woff2",
	".wasm":  "application/wasm",
	".txt":   "text/plain; charset=utf-8",
	".wav":   "audio/wav",
	".ogg":   "audio/ogg",
}

func contentType(p string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(p))]; ok {
		return t
	}
	return "application/octet-stream"
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (and
// does not refuse it with q=0).
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q=")
			if !ok {
				return true
			}
			v, err := strconv.ParseFloat(q, 64)
			return err != nil || v > 0
		}
	}
	return false
}

// isDeepLink reports whether p is one of the page's own paths, which the
// client routes itself (a reload or a shared link there gets the page).
func isDeepLink(p string) bool {
	return p == "/" || p == "/login" || p == "/register" || p == "/channels" || strings.HasPrefix(p, "/channels/")
}

// ServeHTTP answers GET and HEAD.
func (f *Files) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", f.policy(r.Host))
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		httpserve.WriteError(w, http.StatusMethodNotAllowed, "405: Method Not Allowed")
		return
	}
	p := r.URL.Path
	fl, ok := f.byPath[p]
	if isDeepLink(p) {
		fl, ok = f.index, true
	}
	if !ok {
		httpserve.WriteError(w, http.StatusNotFound, "404: Not Found")
		return
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", fl.etag)
	if httpserve.ETagMatch(r.Header.Get("If-None-Match"), fl.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", fl.ctype)
	body := fl.body
	if fl.gz != nil {
		h.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			body = fl.gz
		}
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// policy is the page's Content-Security-Policy: everything from the
// origin itself, images and media also from blob: and data: (previews of
// files being sent, decoded audio), connections to the origin (its
// gateway over wss://host, which 'self' does not cover in every browser)
// and to the extra sources, no framing, no plugins, no <base>. Scripts
// may also compile WebAssembly ('wasm-unsafe-eval', not 'unsafe-eval':
// the DAVE module, dave/dave.wasm) and workers load from the origin
// (dave/*-worker.js; every answer carries this policy, a worker's too).
func (f *Files) policy(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " wss://" + host
	}
	if f.connectSrc != "" {
		connect += " " + f.connectSrc
	}
	return "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
		"img-src 'self' blob: data:; media-src 'self' blob:; connect-src " + connect +
		"; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

// validHost reports whether h is a plain host[:port] (a name, an IPv4
// address or a bracketed IPv6 one), safe to put into a header or a URL.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}

// validSource reports whether s is a CSP source expression Files accepts
// in connect-src: a scheme://host[:port] with a valid host.
func validSource(s string) bool {
	scheme, host, ok := strings.Cut(s, "://")
	return ok && (scheme == "wss" || scheme == "https") && validHost(host)
}

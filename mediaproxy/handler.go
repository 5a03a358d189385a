package mediaproxy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/internal/httpserve"
)

// Request is a transport-neutral request. Its strings are copies, so a
// job handed to a worker never refers to fasthttp's RequestCtx; BodyStream
// is read only by Handle itself, before it returns, and the connection
// only peeked at while Handle waits.
type Request struct {
	Method        string
	RawPath       string // still escaped
	RawQuery      string // still escaped, without '?'
	Accept        string
	IfNoneMatch   string
	Authorization string
	// Range and IfRange are the request's headers (files honour one byte
	// range); ContentType is an upload's declared type.
	Range       string
	IfRange     string
	ContentType string
	// BodyStream is a POST body (nil: none), read by the handler only
	// once the request is authorised and the body budget has room for it,
	// so it is the one way in for a body; ContentLength is its declared
	// length, -1 when unknown (chunked).
	BodyStream    io.Reader
	ContentLength int64

	// conn is the client's connection on the fasthttp front: a request
	// that waits for a job watches it for the client going away.
	conn net.Conn
}

// Response is what the handler answers. Header keys are in canonical MIME
// form (net/http writes them into its header map as they are). Body may be
// shared with the cache and must not be modified.
//
// A file attachment's body is Stream instead (StreamLen bytes, read from
// the store's blob on disk while the front writes it): whoever receives a
// Response with a Stream must close it, written or not. Both fronts do.
type Response struct {
	Status    int
	Header    [][2]string
	Body      []byte
	Stream    io.ReadCloser
	StreamLen int64
}

func (r *Response) set(k, v string) {
	if r.Header == nil {
		r.Header = make([][2]string, 0, 8)
	}
	r.Header = append(r.Header, [2]string{k, v})
}

// errorBody is the JSON of every error.
type errorBody struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func errorResponse(err error) Response {
	st, code := StatusOf(err)
	msg := err.Error()
	if st == http.StatusInternalServerError {
		msg = "internal error"
	}
	b, _ := json.Marshal(errorBody{Status: st, Code: code, Message: msg})
	r := Response{Status: st, Body: b}
	r.set("Content-Type", "application/json")
	r.set("Cache-Control", "no-store")
	if st == http.StatusServiceUnavailable {
		r.set("Retry-After", "1")
	}
	return r
}

func jsonResponse(status int, v any) Response {
	b, _ := json.Marshal(v)
	r := Response{Status: status, Body: b}
	r.set("Content-Type", "application/json")
	r.set("Cache-Control", "no-store")
	return r
}

// Handle answers one request. Waiting for a job is bounded by
// Config.Timeout and ends sooner when ctx does, when the client goes away
// (fasthttp front) or when the server is closed.
//
// Every response, errors included, carries X-Content-Type-Options: nosniff
// and Content-Security-Policy: AttachmentCSP, because the web app serves
// the proxy on its own origin: nothing the proxy answers may run there.
func (s *Server) Handle(ctx context.Context, req *Request) Response {
	start := time.Now()
	resp := s.route(ctx, req)
	resp.set("X-Content-Type-Options", "nosniff")
	resp.set("Content-Security-Policy", AttachmentCSP)
	s.metrics.status(resp.Status)
	lvl := slog.LevelDebug
	if resp.Status >= 500 {
		lvl = slog.LevelWarn
	}
	if s.log.Enabled(ctx, lvl) {
		s.log.Log(ctx, lvl, "request", "method", req.Method, "path", req.RawPath, "status", resp.Status, "bytes", int64(len(resp.Body))+resp.StreamLen, "ms", float64(time.Since(start).Microseconds())/1000)
	}
	return resp
}

// AttachmentCSP is the Content-Security-Policy of every answer, the one
// definition wherever the proxy is served (its own listener, the web
// origin's /media): opened as a document, an answer is sandboxed as if
// from another origin (no script, no form, no plugin) and loads nothing,
// except what a browser's own image, audio and video documents need to
// show the file itself (their <img>, <video> or <audio> loads the
// document's URL: 'self') and their inline styling.
const AttachmentCSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"

func (s *Server) route(ctx context.Context, req *Request) Response {
	p := req.RawPath
	switch {
	case p == "/healthz":
		return s.health()
	case strings.HasPrefix(p, "/attachments/") && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		return s.serveAttachment(ctx, req, strings.TrimPrefix(p, "/attachments/"))
	case strings.HasPrefix(p, "/external/") && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		return s.serveExternal(ctx, req, strings.TrimPrefix(p, "/external/"))
	case strings.HasPrefix(p, "/upload/") && req.Method == http.MethodPost:
		return s.upload(req, strings.TrimPrefix(p, "/upload/"))
	}
	return errorResponse(fmt.Errorf("%w: no route for %s %s", ErrNotFound, req.Method, p))
}

func (s *Server) health() Response {
	if err := StartVips(); err != nil {
		return errorResponse(fmt.Errorf("%w: libvips unavailable", ErrOverloaded))
	}
	return jsonResponse(http.StatusOK, map[string]any{"status": "ok", "vips": VipsSettings(),
		"heic":        !s.cfg.Limits.DisableHEIC && HEICSupported(),
		"queue_depth": s.pool.QueueDepth(), "workers_busy": s.pool.Running()})
}

// splitPath3 splits an escaped path into exactly three non-empty
// unescaped segments (no allocation unless a segment is escaped).
func splitPath3(raw string) (a, b, c string, err error) {
	var ok bool
	if a, raw, ok = strings.Cut(raw, "/"); ok {
		b, c, ok = strings.Cut(raw, "/")
	}
	if !ok || strings.IndexByte(c, '/') >= 0 {
		return "", "", "", fmt.Errorf("%w: malformed path", ErrNotFound)
	}
	for _, p := range []*string{&a, &b, &c} {
		u, err := pathUnescape(*p)
		if err != nil || u == "" {
			return "", "", "", fmt.Errorf("%w: malformed path", ErrNotFound)
		}
		*p = u
	}
	return a, b, c, nil
}

func pathUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	return url.PathUnescape(s)
}

func (s *Server) serveAttachment(ctx context.Context, req *Request, rest string) Response {
	ch, id, name, err := splitPath3(rest)
	if err != nil {
		return errorResponse(err)
	}
	q := parseParams(req.RawQuery)
	now := s.now()
	exp, err := s.signer.verifyAttachment(ch, id, name, q.ex.v, q.is.v, q.hm.v, now)
	if err != nil {
		return errorResponse(err)
	}
	a, err := s.cfg.Store.Get(ch, id)
	if err != nil {
		return errorResponse(err)
	}
	if a.Filename != name {
		return errorResponse(fmt.Errorf("%w: no such attachment", ErrNotFound))
	}
	maxAge := min(time.Unix(exp, 0).Sub(now), 365*24*time.Hour)
	if a.Kind == KindFile {
		if q.imageOptions() {
			return errorResponse(fmt.Errorf("%w: this attachment is a file (%s), not an image: width, height, size, format, quality, animated and upscale apply only to images", ErrBadOptions, a.ContentType))
		}
		return s.serveFile(req, a, maxAge)
	}
	opts, err := parseOptions(&q, req.Accept)
	if err != nil {
		return errorResponse(err)
	}
	var kb [160]byte
	key := append(append(append(kb[:0], "a:"...), a.SHA256...), '|')
	return s.serveVariant(ctx, req, opts.AppendKey(key), opts, maxAge, variantSource{att: a})
}

func (s *Server) serveExternal(ctx context.Context, req *Request, rest string) Response {
	sig, target, err := parseExternalPath(rest)
	if err != nil {
		return errorResponse(err)
	}
	if err := s.signer.VerifyExternal(sig, target); err != nil {
		return errorResponse(err)
	}
	q := parseParams(req.RawQuery)
	opts, err := parseOptions(&q, req.Accept)
	if err != nil {
		return errorResponse(err)
	}
	key := append(append([]byte("e:"), target...), '|')
	return s.serveVariant(ctx, req, opts.AppendKey(key), opts, 365*24*time.Hour, variantSource{target: target})
}

func etagOf(key string) string {
	h := sha256.New()
	h.Write([]byte("parley-media-v1\x00"))
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// immutableYear is the Cache-Control of variants that live a year.
const immutableYear = "public, max-age=31536000, immutable"

func cacheControl(maxAge time.Duration) string {
	secs := int64(max(maxAge, 0) / time.Second)
	if secs == 365*24*3600 {
		return immutableYear
	}
	var b [64]byte
	out := append(b[:0], "public, max-age="...)
	out = strconv.AppendInt(out, secs, 10)
	return string(append(out, ", immutable"...))
}

// serveVariant answers from the ETag, the memory cache, the disk cache or
// a coalesced pipeline run, in that order. keyb is the variant key; it is
// only read during the call (a string is made of it on a miss).
func (s *Server) serveVariant(ctx context.Context, req *Request, keyb []byte, opts Options, maxAge time.Duration, source variantSource) Response {
	headers := func(r *Response, etag string) {
		r.set("Etag", etag)
		r.set("Cache-Control", cacheControl(maxAge))
		if opts.VariesOnAccept() {
			r.set("Vary", "Accept")
		}
	}
	if req.IfNoneMatch != "" {
		if etag := etagOf(string(keyb)); httpserve.ETagMatch(req.IfNoneMatch, etag) {
			s.metrics.hit(tierETag)
			r := Response{Status: http.StatusNotModified}
			headers(&r, etag)
			return r
		}
	}
	v, ok := s.mem.getBytes(keyb)
	if ok {
		s.metrics.hit(tierMemory)
	} else {
		key := string(keyb)
		etag := etagOf(key)
		if v, ok = s.disk.get(key, etag); ok {
			s.metrics.hit(tierDisk)
			s.mem.put(key, v)
		} else {
			s.metrics.misses.Add(1)
			var err error
			if v, err = s.awaitJob(ctx, req, key, etag, opts, source); err != nil {
				return errorResponse(err)
			}
		}
	}
	r := Response{Status: http.StatusOK, Body: v.Body}
	if req.Method == http.MethodHead {
		r.Body = nil
	}
	r.set("Content-Type", v.Format.ContentType())
	headers(&r, v.ETag)
	return r
}

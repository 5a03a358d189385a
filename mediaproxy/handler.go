package mediaproxy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is a transport-neutral request: every field is a copy, so a job
// handed to a worker never refers to fasthttp's RequestCtx.
type Request struct {
	Method        string
	RawPath       string // still escaped
	RawQuery      string // still escaped, without '?'
	Accept        string
	IfNoneMatch   string
	Authorization string
	Body          []byte

	// conn is the client's connection on the fasthttp front: a request
	// that waits for a job watches it for the client going away.
	conn net.Conn
}

// Response is what the handler answers. Header keys are in canonical MIME
// form (net/http writes them into its header map as they are). Body may be
// shared with the cache and must not be modified.
type Response struct {
	Status int
	Header [][2]string
	Body   []byte
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
func (s *Server) Handle(ctx context.Context, req *Request) Response {
	start := time.Now()
	resp := s.route(ctx, req)
	s.metrics.status(resp.Status)
	lvl := slog.LevelDebug
	if resp.Status >= 500 {
		lvl = slog.LevelWarn
	}
	if s.log.Enabled(ctx, lvl) {
		s.log.Log(ctx, lvl, "request", "method", req.Method, "path", req.RawPath, "status", resp.Status, "bytes", len(resp.Body), "ms", float64(time.Since(start).Microseconds())/1000)
	}
	return resp
}

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
	opts, err := parseOptions(&q, req.Accept)
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

// variantSource names where a variant's original comes from: an
// attachment, or an external URL when target is set. It is a value so
// that a cache hit allocates no closure; produce reads it on a miss.
type variantSource struct {
	att    Attachment
	target string
}

// maxPooledSource bounds the source buffers kept for reuse.
const maxPooledSource = 8 << 20

// readSource returns the original's bytes. Attachments are read into a
// pooled buffer (a fresh multi-megabyte buffer per job costs page faults,
// zeroing and GC work); done hands it back and must be called once the
// pipeline, and so libvips, is finished with the bytes.
func (s *Server) readSource(ctx context.Context, src variantSource) (data []byte, done func(), err error) {
	if src.target != "" {
		release, err := s.fetchPool.Acquire(ctx)
		if err != nil {
			return nil, nil, err
		}
		defer release()
		data, err := s.fetcher.Fetch(ctx, src.target)
		return data, func() {}, err
	}
	bp, _ := s.srcBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	data, err = s.cfg.Store.ReadInto(src.att, s.cfg.Limits.MaxBytes, *bp)
	if err != nil {
		s.srcBufs.Put(bp)
		return nil, nil, err
	}
	return data, func() {
		if cap(data) <= maxPooledSource {
			*bp = data[:0]
			s.srcBufs.Put(bp)
		}
	}, nil
}

func etagOf(key string) string {
	h := sha256.New()
	h.Write([]byte("parley-media-v1\x00"))
	h.Write([]byte(key))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
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
		if etag := etagOf(string(keyb)); etagMatches(req.IfNoneMatch, etag) {
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
	r.set("X-Content-Type-Options", "nosniff")
	r.set("Content-Security-Policy", "default-src 'none'; sandbox")
	return r
}

// awaitJob waits for the job producing key, joining the one in flight or
// starting it. The wait ends with the job, or earlier with the request's
// deadline, its client going away or the server halting; the last waiter
// to leave early may cancel the job (flightGroup).
func (s *Server) awaitJob(ctx context.Context, req *Request, key, etag string, opts Options, source variantSource) (Variant, error) {
	c, leader, err := s.flight.Do(key, func(ctx context.Context, commit func()) (Variant, error) {
		return s.produce(ctx, commit, key, etag, opts, source)
	})
	if err != nil {
		return Variant{}, err
	}
	if !leader {
		s.metrics.coalesced.Inc()
	}
	ctx, unwatch := s.waiters.add(ctx, req.conn)
	defer unwatch()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	select {
	case <-c.done:
		if c.err != nil && ctx.Err() != nil {
			return Variant{}, waitError(ctx) // the job ended for the same reason
		}
		return c.res, c.err
	case <-ctx.Done():
		if s.flight.leave(c) {
			s.metrics.abandoned.Inc()
		}
		return Variant{}, waitError(ctx)
	}
}

// waitError says why a wait ended early.
func waitError(ctx context.Context) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrClosed):
		return fmt.Errorf("%w: shutting down", ErrClosed)
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("%w: request deadline", ErrTimeout)
	default: // the client left, or the caller's context was cancelled
		return ErrClientGone
	}
}

// produce runs one job for key under its own deadline, detached from any
// one requester so that coalesced waiters are not cancelled by the first
// caller leaving; ctx is the flight group's (cancelled by Close, or when
// every waiter left before commit).
func (s *Server) produce(ctx context.Context, commit func(), key, etag string, opts Options, source variantSource) (Variant, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	src, done, err := s.readSource(ctx, source)
	if err != nil {
		return Variant{}, err
	}
	// Run has closed the libvips image (and libvips' operation cache is
	// off) by the time this runs, so nothing reads src afterwards; the
	// result body is a copy made by the encoder.
	defer done()
	release, err := s.pool.Acquire(ctx)
	if err != nil {
		return Variant{}, err
	}
	defer release()
	if s.caching() {
		commit()
	}
	start := time.Now()
	j := &Job{Source: src, Opts: opts, Limits: s.cfg.Limits, log: s.log}
	if err := s.pipeline.Run(ctx, j); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrClosed) || errors.Is(cause, errAbandoned) {
			return Variant{}, fmt.Errorf("%w: job cancelled (%w)", ErrClosed, cause)
		}
		if errors.Is(err, ErrTimeout) {
			s.stats.Timeouts.Add(1)
		}
		return Variant{}, err
	}
	s.metrics.processing.Observe(time.Since(start).Seconds())
	v := Variant{Body: j.Result.Body, Format: j.Result.Format, ETag: etag}
	s.mem.put(key, v)
	if err := s.disk.put(key, v); err != nil {
		s.log.Warn("disk cache write", "err", err)
	}
	return v, nil
}

// caching reports whether a produced variant is kept (memory or disk).
func (s *Server) caching() bool { return s.mem.max > 0 || s.disk != nil }

// UploadToken derives the bearer token for POST /upload from the media key.
func UploadToken(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("parley-media-upload-token"))
	return hex.EncodeToString(m.Sum(nil))
}

// UploadResult is the JSON answer to an upload (and `parley media put`).
type UploadResult struct {
	Attachment
	Path string `json:"path"`
	URL  string `json:"url"`
}

func (s *Server) upload(req *Request, channel string) Response {
	tok, ok := strings.CutPrefix(req.Authorization, "Bearer ")
	if s.cfg.UploadToken == "" || !ok || !hmac.Equal([]byte(tok), []byte(s.cfg.UploadToken)) {
		return errorResponse(ErrUnauthorized)
	}
	if strings.Contains(channel, "/") {
		return errorResponse(fmt.Errorf("%w: malformed path", ErrNotFound))
	}
	name := parseParams(req.RawQuery).filename.v
	if name == "" {
		name = "file"
	}
	a, err := s.cfg.Store.Put(channel, name, req.Body, s.cfg.Limits, s.now())
	if err != nil {
		return errorResponse(err)
	}
	return jsonResponse(http.StatusCreated, s.result(a))
}

func (s *Server) result(a Attachment) UploadResult {
	p := s.signer.SignAttachment(a.ChannelID, a.ID, a.Filename, s.now(), s.cfg.SignedTTL)
	return UploadResult{Attachment: a, Path: p, URL: strings.TrimSuffix(s.cfg.PublicURL, "/") + p}
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body", ErrBadRequest)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: upload over %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

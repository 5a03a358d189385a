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
	Query         url.Values
	Accept        string
	IfNoneMatch   string
	Authorization string
	Body          []byte
}

// Response is what the handler answers.
type Response struct {
	Status int
	Header [][2]string
	Body   []byte
}

func (r *Response) set(k, v string) { r.Header = append(r.Header, [2]string{k, v}) }

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

// Serve answers one request. ctx carries the request deadline.
func (s *Server) Serve(ctx context.Context, req *Request) Response {
	start := time.Now()
	resp := s.route(ctx, req)
	s.metrics.status(resp.Status)
	lvl := s.log.Debug
	if resp.Status >= 500 {
		lvl = s.log.Warn
	}
	lvl("request", "method", req.Method, "path", req.RawPath, "status", resp.Status, "bytes", len(resp.Body), "ms", float64(time.Since(start).Microseconds())/1000)
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

func splitPath(raw string, n int) ([]string, error) {
	parts := strings.Split(raw, "/")
	if len(parts) != n {
		return nil, fmt.Errorf("%w: malformed path", ErrNotFound)
	}
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil || u == "" {
			return nil, fmt.Errorf("%w: malformed path", ErrNotFound)
		}
		parts[i] = u
	}
	return parts, nil
}

func (s *Server) serveAttachment(ctx context.Context, req *Request, rest string) Response {
	parts, err := splitPath(rest, 3)
	if err != nil {
		return errorResponse(err)
	}
	ch, id, name := parts[0], parts[1], parts[2]
	q := req.Query
	now := s.now()
	if err := s.signer.VerifyAttachment(ch, id, name, q.Get("ex"), q.Get("is"), q.Get("hm"), now); err != nil {
		return errorResponse(err)
	}
	opts, err := ParseOptions(q, req.Accept)
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
	exp, _ := strconv.ParseInt(q.Get("ex"), 16, 64)
	maxAge := min(time.Unix(exp, 0).Sub(now), 365*24*time.Hour)
	key := "a:" + a.SHA256 + "|" + opts.Key()
	return s.serveVariant(ctx, req, key, opts, maxAge, func(context.Context) ([]byte, error) {
		return s.cfg.Store.Open(a, s.cfg.Limits.MaxBytes)
	})
}

func (s *Server) serveExternal(ctx context.Context, req *Request, rest string) Response {
	sig, target, err := parseExternalPath(rest)
	if err != nil {
		return errorResponse(err)
	}
	if err := s.signer.VerifyExternal(sig, target); err != nil {
		return errorResponse(err)
	}
	opts, err := ParseOptions(req.Query, req.Accept)
	if err != nil {
		return errorResponse(err)
	}
	key := "e:" + target + "|" + opts.Key()
	return s.serveVariant(ctx, req, key, opts, 365*24*time.Hour, func(ctx context.Context) ([]byte, error) {
		release, err := s.fetchPool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		return s.fetcher.Fetch(ctx, target)
	})
}

func etagOf(key string) string {
	s := sha256.Sum256([]byte("parley-media-v1\x00" + key))
	return `"` + base64.RawURLEncoding.EncodeToString(s[:18]) + `"`
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

// serveVariant answers from the ETag, the memory cache, the disk cache or
// a coalesced pipeline run, in that order.
func (s *Server) serveVariant(ctx context.Context, req *Request, key string, opts Options, maxAge time.Duration, source func(context.Context) ([]byte, error)) Response {
	etag := etagOf(key)
	headers := func(r *Response) {
		r.set("ETag", etag)
		r.set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(max(maxAge, 0)/time.Second), 10)+", immutable")
		if opts.VariesOnAccept() {
			r.set("Vary", "Accept")
		}
	}
	if req.IfNoneMatch != "" && etagMatches(req.IfNoneMatch, etag) {
		s.metrics.hit("etag")
		r := Response{Status: http.StatusNotModified}
		headers(&r)
		return r
	}
	v, ok := s.mem.get(key)
	if ok {
		s.metrics.hit("memory")
	} else if v, ok = s.disk.get(key, etag); ok {
		s.metrics.hit("disk")
		s.mem.put(key, v)
	} else {
		s.metrics.misses.Add(1)
		c, leader := s.flight.Do(key, func() (Variant, error) { return s.produce(key, etag, opts, source) })
		if !leader {
			s.metrics.coalesced.Inc()
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return errorResponse(fmt.Errorf("%w: request deadline", ErrTimeout))
		}
		if c.err != nil {
			return errorResponse(c.err)
		}
		v = c.res
	}
	r := Response{Status: http.StatusOK, Body: v.Body}
	if req.Method == http.MethodHead {
		r.Body = nil
	}
	r.set("Content-Type", v.Format.ContentType())
	headers(&r)
	r.set("X-Content-Type-Options", "nosniff")
	r.set("Content-Security-Policy", "default-src 'none'; sandbox")
	return r
}

// produce runs one job for key under its own deadline, detached from any
// one requester so that coalesced waiters are not cancelled by the first
// caller leaving.
func (s *Server) produce(key, etag string, opts Options, source func(context.Context) ([]byte, error)) (Variant, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	src, err := source(ctx)
	if err != nil {
		return Variant{}, err
	}
	release, err := s.pool.Acquire(ctx)
	if err != nil {
		return Variant{}, err
	}
	defer release()
	start := time.Now()
	j := &Job{Source: src, Opts: opts, Limits: s.cfg.Limits, log: s.log}
	if err := s.pipeline.Run(ctx, j); err != nil {
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
	name := req.Query.Get("filename")
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

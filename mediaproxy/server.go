package mediaproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Server is the media proxy. Its handler is transport-neutral (Handle);
// the fasthttp server is the production front, and ServeHTTP offers the
// same handler on net/http (the bench compares the two).
type Server struct {
	cfg       Config
	log       *slog.Logger
	signer    *Signer
	pool      *Pool
	fetchPool *Pool
	fetcher   *Fetcher
	mem       *memCache
	disk      *diskCache
	flight    flightGroup
	pipeline  Pipeline
	stats     *Stats
	metrics   *metrics
	metricsH  fasthttp.RequestHandler
	metricsN  http.Handler
	now       func() time.Time
	srcBufs   sync.Pool // *[]byte source buffers (readSource)
	ln        net.Listener
	srv       *fasthttp.Server

	closeOnce sync.Once
	closeErr  error
}

// New applies the defaults to cfg, validates it, starts libvips (once per
// process), builds a server and binds cfg.Addr (Addr reports it). Start
// serves; Close releases the listener even if Start was never called.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := StartVips(); err != nil {
		return nil, err
	}
	signer, err := NewSigner(cfg.Key)
	if err != nil {
		return nil, err
	}
	disk, err := openDiskCache(cfg.CacheDir, cfg.DiskCacheBytes)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, signer: signer,
		pool:      NewPool(cfg.Workers, cfg.Queue),
		fetchPool: NewPool(4*cfg.Workers, 4*cfg.Queue),
		fetcher:   NewFetcher(cfg.Fetch),
		mem:       newMemCache(cfg.MemCacheBytes),
		disk:      disk,
		stats:     &Stats{},
		now:       cfg.Now,
	}
	s.pipeline = MainPipeline(s.stats)
	s.metrics = newMetrics(s.pool, s.stats, cfg.Registerer)
	s.metricsN = promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	s.metricsH = fasthttpadaptor.NewFastHTTPHandler(s.metricsN)
	s.srv = &fasthttp.Server{
		Handler:               s.HandleFastHTTP,
		Name:                  "parley-media",
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    int(cfg.Limits.MaxBytes) + 4096,
		NoDefaultServerHeader: true,
		Concurrency:           4096,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mediaproxy: listen %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	return s, nil
}

// Stats returns the pipeline counters.
func (s *Server) Stats() *Stats { return s.stats }

// Signer returns the URL signer.
func (s *Server) Signer() *Signer { return s.signer }

// Addr is the bound listen address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves fasthttp on the bound listener until Close; it returns at
// once.
func (s *Server) Start(context.Context) error {
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("media server stopped", "err", err)
		}
	}()
	s.log.Info("media proxy listening", "addr", s.Addr(), "workers", s.cfg.Workers, "queue", s.cfg.Queue)
	return nil
}

// Close stops accepting connections and waits for handlers to finish. It
// is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		_ = s.ln.Close()
		s.fetcher.CloseIdle()
		s.closeErr = s.srv.ShutdownWithContext(ctx)
	})
	return s.closeErr
}

// HandleFastHTTP adapts fasthttp to Handle. Every input is copied into a
// Request before any hand-off, and the handler returns only after the
// response is complete, so no worker ever holds the RequestCtx. The body
// is sent without a copy (SetBodyRaw): cached bodies are never modified.
func (s *Server) HandleFastHTTP(fc *fasthttp.RequestCtx) {
	req := &Request{
		Method:        methodString(fc),
		Accept:        string(fc.Request.Header.Peek("Accept")),
		IfNoneMatch:   string(fc.Request.Header.Peek("If-None-Match")),
		Authorization: string(fc.Request.Header.Peek("Authorization")),
	}
	if uri := fc.RequestURI(); len(uri) > 0 && uri[0] == '/' {
		// Origin form: one copy, then path and query are substrings (a
		// fragment is dropped, as fasthttp's URI parser does).
		u, _, _ := strings.Cut(string(uri), "#")
		req.RawPath, req.RawQuery, _ = strings.Cut(u, "?")
	} else {
		req.RawPath, req.RawQuery = string(fc.URI().PathOriginal()), string(fc.URI().QueryString())
	}
	if req.RawPath == "/metrics" {
		s.metricsH(fc)
		return
	}
	if req.Method == http.MethodPost {
		req.Body = append([]byte(nil), fc.PostBody()...)
	}
	resp := s.Handle(context.Background(), req)
	fc.SetStatusCode(resp.Status)
	for _, h := range resp.Header {
		fc.Response.Header.Set(h[0], h[1])
	}
	fc.Response.SetBodyRaw(resp.Body)
}

func methodString(fc *fasthttp.RequestCtx) string {
	switch {
	case fc.IsGet():
		return http.MethodGet
	case fc.IsHead():
		return http.MethodHead
	case fc.IsPost():
		return http.MethodPost
	}
	return string(fc.Method())
}

// ServeHTTP is the same handler on net/http.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/metrics" {
		s.metricsN.ServeHTTP(w, r)
		return
	}
	req := &Request{
		Method: r.Method, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Accept: r.Header.Get("Accept"), IfNoneMatch: r.Header.Get("If-None-Match"), Authorization: r.Header.Get("Authorization"),
	}
	if r.Method == http.MethodPost {
		b, err := readBody(r, s.cfg.Limits.MaxBytes)
		if err != nil {
			writeResponse(w, errorResponse(err))
			return
		}
		req.Body = b
	}
	writeResponse(w, s.Handle(r.Context(), req))
}

// writeResponse writes resp with its Content-Length (so net/http does not
// chunk bodies over its 2 KiB buffer). Header keys are canonical already,
// so they go into the map as they are, sharing one backing array.
func writeResponse(w http.ResponseWriter, resp Response) {
	h := w.Header()
	n := len(resp.Header)
	if len(resp.Body) > 0 {
		n++
	}
	vals := make([]string, n)
	for i, kv := range resp.Header {
		vals[i] = kv[1]
		h[textproto.CanonicalMIMEHeaderKey(kv[0])] = vals[i : i+1 : i+1]
	}
	if len(resp.Body) > 0 {
		vals[n-1] = strconv.Itoa(len(resp.Body))
		h["Content-Length"] = vals[n-1 : n : n]
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

package mediaproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
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
//
// Goroutines: Start starts the fasthttp front's accept loop (and through
// it one goroutine per connection) and the watcher of waiting clients
// (waiterSet); a miss starts one job goroutine per variant key
// (flightGroup). Close waits for all of them.
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
	srcBufs   sync.Pool // *[]byte source buffers (readAttachment)
	front     *front
	waiters   *waiterSet
	budget    *byteBudget

	mu      sync.Mutex
	started bool // guarded by mu
	closed  bool // guarded by mu

	closeOnce sync.Once
	closeErr  error
}

// New applies the defaults to cfg, validates it, starts libvips (once per
// process), builds a server and binds cfg.Addr, or takes cfg.Listener
// (Addr reports it). Start serves; Close releases the listener even if
// Start was never called.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	fail := func(err error) (*Server, error) {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	if err := StartVips(); err != nil {
		return fail(err)
	}
	signer, err := NewSigner(cfg.Key)
	if err != nil {
		return fail(err)
	}
	disk, err := openDiskCache(cfg.CacheDir, cfg.DiskCacheBytes)
	if err != nil {
		return fail(err)
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
		waiters:   newWaiterSet(),
		budget:    newByteBudget(cfg.BodyBudget),
	}
	s.pipeline = MainPipeline(s.stats)
	s.metrics = newMetrics(s.pool, s.budget, s.stats, cfg.Registerer)
	s.metricsN = promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	s.metricsH = fasthttpadaptor.NewFastHTTPHandler(s.metricsN)
	srv := &fasthttp.Server{
		Handler:            s.HandleFastHTTP,
		Name:               "parley-media",
		ReadTimeout:        cfg.Timeout,
		WriteTimeout:       cfg.Timeout,
		IdleTimeout:        60 * time.Second,
		MaxRequestBodySize: int(cfg.Limits.MaxBytes) + 4096,
		// Bodies are streamed: fasthttp reads at most 8 KiB of one before
		// the handler runs, and upload reads the rest only once it is
		// authorised and admitted by the body budget.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		Concurrency:                  4096,
		Logger:                       slogPrintf{cfg.Logger},
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("mediaproxy: listen %s: %w", cfg.Addr, err)
		}
	}
	s.front = newFront(srv, ln, cfg.Logger)
	return s, nil
}

// slogPrintf gives fasthttp's Printf-style logger to slog, at Debug (it
// reports client-side connection errors).
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	p.l.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}

// Stats returns the pipeline counters.
func (s *Server) Stats() *Stats { return s.stats }

// Limits returns the limits in force (defaults applied): what callers
// storing attachments directly (Store.PutFile) should pass, so that
// uploads are refused exactly as serving would refuse them.
func (s *Server) Limits() Limits { return s.cfg.Limits }

// Signer returns the URL signer.
func (s *Server) Signer() *Signer { return s.signer }

// Addr is the bound listen address (host:port).
func (s *Server) Addr() string { return s.front.ln.Addr().String() }

// Start serves fasthttp on the bound listener until Close; it returns at
// once. It fails after Close or when called twice.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	s.started = true
	s.waiters.start()
	s.front.start()
	s.log.Info("media proxy listening", "addr", s.Addr(), "workers", s.cfg.Workers, "queue", s.cfg.Queue)
	return nil
}

// Close stops the server and waits for every goroutine it started.
//
// The graceful part, bounded by ctx: the listener closes, idle
// connections close, requests in flight are answered (each connection
// closes after its answer) and jobs in flight finish, their results
// cached. When ctx ends first, Close returns ctx's error after the hard
// part: waiters are released with ErrClosed (a 503 on a front that still
// carries it), jobs are cancelled (the pipeline stops before its next step
// and libvips' kill flag ends the current one, so no long resize is waited
// for) and every connection is closed. Close is idempotent; later calls
// return the first one's result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Server) close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	lnErr := s.front.close()
	drained := make(chan struct{})
	go func() { // owned by close, which waits for it below
		defer close(drained)
		s.front.wait()
		<-s.flight.idle()
	}()
	var graceErr error
	select {
	case <-drained:
	case <-ctx.Done():
		graceErr = ctx.Err()
	}
	s.waiters.halt()
	s.flight.halt()
	s.front.closeAll()
	<-drained
	s.flight.wait()
	s.waiters.wait()
	s.fetcher.CloseIdle()
	return errors.Join(lnErr, graceErr)
}

// HandleFastHTTP adapts fasthttp to Handle. Every input is copied into a
// Request before any hand-off, and the handler returns only after the
// response is complete, so no worker ever holds the RequestCtx (an
// upload's body stream is read by Handle itself, on this goroutine).
// Handle gets the background context: a request that waits for a job (a
// miss) derives from it one that is cancelled when the client goes away
// or the server closes (waiterSet), and a cache hit never waits. The body
// is sent without a copy (SetBodyRaw): cached bodies are never modified.
// A file's stream is handed to fasthttp, which closes it once written or
// failed, under a write deadline that grows with its size (streamDeadline)
// instead of the server's WriteTimeout.
func (s *Server) HandleFastHTTP(fc *fasthttp.RequestCtx) {
	req := &Request{
		conn:          fc.Conn(),
		Method:        methodString(fc),
		Accept:        string(fc.Request.Header.Peek("Accept")),
		IfNoneMatch:   string(fc.Request.Header.Peek("If-None-Match")),
		Authorization: string(fc.Request.Header.Peek("Authorization")),
		Range:         string(fc.Request.Header.Peek("Range")),
		IfRange:       string(fc.Request.Header.Peek("If-Range")),
		ContentType:   string(fc.Request.Header.ContentType()),
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
		if bs := fc.RequestBodyStream(); bs != nil {
			req.BodyStream, req.ContentLength = bs, max(int64(fc.Request.Header.ContentLength()), -1)
		}
	}
	resp := s.Handle(context.Background(), req)
	if s.front.closing.Load() {
		fc.SetConnectionClose()
	}
	fc.SetStatusCode(resp.Status)
	for _, h := range resp.Header {
		fc.Response.Header.Set(h[0], h[1])
	}
	if resp.Stream != nil {
		_ = fc.SetWriteDeadline(s.streamDeadline(resp.StreamLen))
		fc.Response.SetBodyStream(resp.Stream, int(resp.StreamLen))
		return
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
		Range: r.Header.Get("Range"), IfRange: r.Header.Get("If-Range"), ContentType: r.Header.Get("Content-Type"),
	}
	if r.Method == http.MethodPost {
		req.BodyStream, req.ContentLength = r.Body, r.ContentLength
	}
	resp := s.Handle(r.Context(), req)
	if resp.Stream != nil {
		// The embedding server's WriteTimeout would cut a large download
		// short: give it the size-based deadline (ignored by writers
		// that cannot, such as httptest's recorder).
		_ = http.NewResponseController(w).SetWriteDeadline(s.streamDeadline(resp.StreamLen))
	}
	writeResponse(w, resp)
}

// writeResponse writes resp with its Content-Length (so net/http does not
// chunk bodies over its 2 KiB buffer), and closes its Stream. Header keys
// are canonical already, so they go into the map as they are, sharing one
// backing array.
func writeResponse(w http.ResponseWriter, resp Response) {
	if resp.Stream != nil {
		defer resp.Stream.Close()
	}
	h := w.Header()
	n := len(resp.Header)
	length := int64(len(resp.Body))
	if resp.Stream != nil {
		length = resp.StreamLen
	}
	if length > 0 {
		n++
	}
	vals := make([]string, n)
	for i, kv := range resp.Header {
		vals[i] = kv[1]
		h[textproto.CanonicalMIMEHeaderKey(kv[0])] = vals[i : i+1 : i+1]
	}
	if length > 0 {
		vals[n-1] = strconv.FormatInt(length, 10)
		h["Content-Length"] = vals[n-1 : n : n]
	}
	w.WriteHeader(resp.Status)
	if resp.Stream != nil {
		_, _ = io.CopyN(w, resp.Stream, resp.StreamLen)
		return
	}
	_, _ = w.Write(resp.Body)
}

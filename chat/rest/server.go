package rest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path"
	"strings"
	"sync/atomic"

	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/httpserve"
)

// Server is the REST API: New binds its listener, Start serves it, Close
// shuts it down. ServeHTTP is its handler (usable on its own, e.g. with
// httptest).
type Server struct {
	cfg Config
	mux *http.ServeMux
	// The limiters, one map each so that filling one cannot evict
	// another's windows: global per caller, per route and major id per
	// caller, invalid answers per address, auth attempts per address,
	// failed password checks per account name.
	global, perRoute, invalid, auth, failures *limiter

	routeCount uint16 // routes registered (route keys)
	// uploadsRefused counts multipart message bodies refused (a limit, a
	// malformed body, a file the store would not keep); filesDiscarded
	// the files stored for a message that then failed, deleted again.
	uploadsRefused, filesDiscarded atomic.Uint64
	ln                             *connlimit.Listener // Config.MaxConnsPerIP over the bound listener
	srv                            *httpserve.Server   // serves ln
}

// New applies the defaults to cfg, validates it, builds the routes and
// binds the listener (Addr reports it).
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, fmt.Errorf("rest: listen %s: %w", cfg.Addr, err)
		}
	}
	s := &Server{
		cfg: cfg, mux: http.NewServeMux(), ln: connlimit.Wrap(ln, connlimit.Config{PerIP: max(0, cfg.MaxConnsPerIP)}),
		global: newLimiter(cfg.LimiterKeys), perRoute: newLimiter(cfg.LimiterKeys), invalid: newLimiter(cfg.LimiterKeys),
		auth: newLimiter(cfg.LimiterKeys), failures: newLimiter(cfg.LimiterKeys),
	}
	s.routes()
	srv, err := httpserve.New(httpserve.Config{
		Handler: s, Listener: s.ln, Name: "rest", Logger: cfg.Logger, ErrClosed: ErrClosed, ErrStarted: ErrStarted,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
	})
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Stats are the REST server's gauges and counters.
type Stats struct {
	// LimiterKeys are the windows held by all the limiters together (each
	// holds at most Config.LimiterKeys).
	LimiterKeys int
	// LimiterEvictions counts live windows forgotten to stay within the cap.
	LimiterEvictions uint64
	// RefusedConns counts connections closed at accept for the per-IP cap.
	RefusedConns uint64
	// UploadsRefused counts multipart message bodies refused;
	// FilesDiscarded the files stored for messages that then failed, and
	// deleted again.
	UploadsRefused, FilesDiscarded uint64
}

// Stats returns the current gauges and counters.
func (s *Server) Stats() Stats {
	st := Stats{RefusedConns: s.ln.Rejections().PerIP, UploadsRefused: s.uploadsRefused.Load(), FilesDiscarded: s.filesDiscarded.Load()}
	for _, l := range []*limiter{s.global, s.perRoute, s.invalid, s.auth, s.failures} {
		n, ev := l.size()
		st.LimiterKeys += n
		st.LimiterEvictions += ev
	}
	return st
}

// Addr is the bound listen address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start serves HTTP on the bound listener until Close; it returns at once.
func (s *Server) Start(ctx context.Context) error { return s.srv.Start(ctx) }

// Close stops accepting, lets requests in flight finish (bounded by ctx;
// then the remaining connections are closed) and waits for the Serve
// goroutine and every connection's goroutine. It returns ctx's error if
// the graceful part was cut short. It is idempotent.
func (s *Server) Close(ctx context.Context) error { return s.srv.Close(ctx) }

// ServeHTTP serves /api/v10/... and /api/v9/... (and /api/... unversioned).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/v10/"):
		p = p[len("/api/v10"):]
	case strings.HasPrefix(p, "/api/v9/"):
		p = p[len("/api/v9"):]
	case strings.HasPrefix(p, "/api/"):
		p = p[len("/api"):]
	default:
		writeError(w, errNotFound)
		return
	}
	if unclean(p) {
		// The mux would redirect to the cleaned path, which has lost the
		// /api prefix: refuse it instead.
		writeError(w, errNotFound)
		return
	}
	// A shallow copy with the stripped path, as http.StripPrefix makes:
	// handlers do not change the headers, so they need no copy.
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	r2.Body = &requestBody{ReadCloser: http.MaxBytesReader(w, r.Body, s.cfg.MaxBody), raw: r.Body}
	s.mux.ServeHTTP(w, r2) // unknown paths and methods: notFound
}

// unclean reports whether the mux would redirect p to a cleaned path
// (an empty segment, "." or ".."); path.Clean returns a clean path itself,
// without allocating.
func unclean(p string) bool {
	c := path.Clean(p)
	return c != p && c+"/" != p
}

// notFound answers a path no route has, and a method a route's path does
// not take, as Discord does: 404 with its JSON body (not net/http's 405).
func notFound(w http.ResponseWriter, _ *http.Request) { writeError(w, errNotFound) }

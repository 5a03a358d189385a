package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config configures a Server. The timeouts and MaxHeaderBytes are
// net/http.Server's.
type Config struct {
	// Handler answers every request.
	Handler http.Handler
	// Listener is the bound listener to serve; the Server closes it.
	Listener net.Listener
	// Name starts the log line of a failed serve ("NAME serve").
	Name string
	// Logger receives the serve error and, at Debug, net/http's own log;
	// nil discards them.
	Logger *slog.Logger
	// ErrClosed is what Start returns after Close; ErrStarted what it
	// returns the second time. They are the owning package's sentinels.
	ErrClosed, ErrStarted error

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem; it changes nothing.
func (c Config) Validate() error {
	switch {
	case c.Handler == nil:
		return fmt.Errorf("%w: no handler", ErrConfig)
	case c.Listener == nil:
		return fmt.Errorf("%w: no listener", ErrConfig)
	case c.ErrClosed == nil || c.ErrStarted == nil:
		return fmt.Errorf("%w: ErrClosed and ErrStarted are required", ErrConfig)
	}
	return nil
}

// Server serves one listener with net/http until Close.
type Server struct {
	cfg  Config
	http *http.Server
	// serving counts the Serve goroutine; conns the connections net/http
	// serves (ConnState new → closed or hijacked).
	serving, conns sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu sync.Mutex
	// Guarded by mu:
	started, closed bool
}

// New applies the defaults to cfg, validates it and builds the server.
// Nothing is served until Start.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg}
	s.http = &http.Server{
		Handler: cfg.Handler, ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
		ConnState: s.connState, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Start serves the listener until Close; it returns at once.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return s.cfg.ErrClosed
	case s.started:
		return s.cfg.ErrStarted
	}
	s.started = true
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := s.http.Serve(s.cfg.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error(s.cfg.Name+" serve", "err", err)
		}
	}()
	return nil
}

// connState tracks the connections net/http serves. StateNew is reported
// by the Serve goroutine before it starts the connection's goroutine, so
// every Add happens before Close waits.
func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		s.conns.Done()
	}
}

// Close stops accepting, lets requests in flight finish (bounded by ctx;
// then the remaining connections are closed) and waits for the serving
// goroutine and every connection's. Hijacked connections are their new
// owner's to close. It returns ctx's error if the graceful part was cut
// short, and is idempotent.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.closeErr = s.http.Shutdown(ctx)
		if s.closeErr != nil {
			_ = s.http.Close()
		}
		_ = s.cfg.Listener.Close() // in case Serve never ran
		s.serving.Wait()
		s.conns.Wait()
	})
	return s.closeErr
}

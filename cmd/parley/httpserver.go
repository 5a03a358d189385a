package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// httpTimeouts bound every phase of an HTTP connection, so that a client
// that sends or reads one byte at a time cannot hold a connection forever.
type httpTimeouts struct {
	header, read, write, idle time.Duration
}

// defaultHTTPTimeouts are those of the admin and metrics listeners.
var defaultHTTPTimeouts = httpTimeouts{header: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 60 * time.Second}

// httpServer serves one handler on one listener in a goroutine it owns.
type httpServer struct {
	srv  *http.Server
	done chan struct{}
}

// startHTTP serves h on ln with the timeouts to until close.
func startHTTP(ln net.Listener, h http.Handler, to httpTimeouts, log *slog.Logger) *httpServer {
	s := &httpServer{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: to.header, ReadTimeout: to.read, WriteTimeout: to.write,
			IdleTimeout: to.idle, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s
}

// close stops accepting, lets requests in flight finish within ctx (then
// cuts them), and waits for the serving goroutine.
func (s *httpServer) close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return err
}

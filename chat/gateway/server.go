package gateway

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/chat/model"
)

// Stats are cumulative counters (read with Server.Stats).
type Stats struct {
	Connections int64 // open connections
	Sessions    int64 // live sessions (attached or resumable)
	Dispatches  int64 // dispatch enqueues (deliveries)
	Writes      int64 // socket writes (each coalesces frames)
	BytesOut    int64
	Dropped     int64 // connections closed for falling behind
}

type stats struct {
	dispatches, writes, bytesOut, dropped atomic.Int64
}

// Server is the gateway. Create with New, run with Serve, stop with Close.
type Server struct {
	cfg     Config
	poller  *poller
	flusher *flusher
	done    chan struct{}
	wg      sync.WaitGroup
	stats   stats
	closed  atomic.Bool

	mu sync.RWMutex
	// Guarded by mu:
	conns     map[*wsConn]struct{}
	sessions  map[string]*session
	byUser    map[model.Snowflake][]*session
	listeners []net.Listener
	// subs maps a guild to its subscribed sessions: a copy-on-write slice
	// (the map is guarded by mu, the slices are immutable once stored).
	subs map[model.Snowflake]*atomic.Pointer[[]*session]

	idMu sync.Mutex
	// identifies per user in the current window; guarded by idMu.
	identifies map[model.Snowflake]*window
}

type window struct {
	start time.Time
	n     int
}

// New validates cfg and returns a server with its poller running.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, poller: p, done: make(chan struct{}),
		conns: map[*wsConn]struct{}{}, sessions: map[string]*session{},
		byUser: map[model.Snowflake][]*session{}, subs: map[model.Snowflake]*atomic.Pointer[[]*session]{},
		identifies: map[model.Snowflake]*window{},
	}
	s.flusher = newFlusher(max(4, 2*runtime.GOMAXPROCS(0)))
	s.wg.Add(2)
	go func() { defer s.wg.Done(); p.run(s.readable) }()
	go func() { defer s.wg.Done(); s.sweep() }()
	return s, nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	st := Stats{Connections: int64(len(s.conns)), Sessions: int64(len(s.sessions))}
	s.mu.RUnlock()
	st.Dispatches, st.Writes = s.stats.dispatches.Load(), s.stats.writes.Load()
	st.BytesOut, st.Dropped = s.stats.bytesOut.Load(), s.stats.dropped.Load()
	return st
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go s.upgrade(nc)
	}
}

// Close sends op 7 Reconnect to every connection, closes them and stops.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	reconnect := controlFrame(OpReconnect, nil)
	for _, c := range conns {
		c.queue(reconnect)
		c.closeWith(CloseUnknownError, false)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && s.Stats().Connections > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range conns {
		s.drop(c, ErrClosed)
	}
	close(s.done)
	s.flusher.close()
	s.poller.close()
	s.wg.Wait()
	s.poller.release()
	return nil
}

// drop closes a connection without a close frame; idempotent.
func (s *Server) drop(c *wsConn, err error) {
	if c.dead.Swap(true) {
		return
	}
	s.poller.remove(c)
	_ = c.nc.Close()
	c.mu.Lock()
	sess, end := c.sess, c.endSession
	c.ctrl = nil
	c.mu.Unlock()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) {
		s.cfg.Log.Debug("gateway conn closed", "err", err)
	}
	if sess != nil {
		sess.detach(c, time.Now())
		if end {
			s.endSession(sess)
		}
	}
}

func (s *Server) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

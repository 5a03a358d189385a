package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/connlimit"
)

// Server is the gateway. New binds its listener, Start starts its
// goroutines, Close stops and waits for all of them.
//
// Goroutines, all started and waited for by the server:
//   - loops: the accept loop, the poll loop, the sweeper and the adopt
//     loop (Start);
//   - the flusher's workers (Start; flusher.close waits for them);
//   - work: one goroutine per upgrade in progress, per frame being read
//     (started by the poller through goWork), per slow write (finishSlow)
//     and per lingering close (linger); and for each connection ServeHTTP
//     adopted, its reader and its writer (started by the adopt loop).
//     ServeHTTP's handshake itself runs on net/http's goroutine, counted
//     in work too.
//
// Only the loops, the flusher's workers, work goroutines themselves and
// ServeHTTP (under mu, while the server is not closed) add to work, so
// Close waits for those starters before it waits for work (a WaitGroup
// must not grow from zero while it is being waited for).
type Server struct {
	cfg     Config
	ln      *connlimit.Listener // the per-IP caps (Config.Conns) over raw
	poller  *poller
	flusher *flusher
	stats   stats
	closed  atomic.Bool   // set when Close begins; no new connection is admitted
	quit    chan struct{} // closed when Close begins: stops the accept backoff, the sweeper and the adopt loop
	adopt   chan *wsConn  // ServeHTTP → adoptLoop: connections to start the goroutines of
	loops   sync.WaitGroup
	work    sync.WaitGroup

	closeOnce sync.Once

	mu sync.RWMutex
	// Guarded by mu:
	started   bool
	cancel    context.CancelFunc // ends the lifetime context of Start (backend calls)
	upgrading map[net.Conn]struct{}
	conns     map[*wsConn]struct{}
	drained   chan struct{} // set by Close; closed by drop when conns becomes empty
	sessions  map[string]*session
	byUser    map[model.Snowflake][]*session
	// subs maps a guild to its subscribed sessions. The slices are
	// copy-on-write: replaced, never written once stored, so Dispatch
	// reads one under mu and sends without it.
	subs map[model.Snowflake][]*session

	idMu sync.Mutex
	// identifies per user in the current window; guarded by idMu.
	identifies map[model.Snowflake]*window
}

type window struct {
	start time.Time
	n     int
}

const (
	// closeGrace bounds how long Close waits for connections to take their
	// close frames (also bounded by Close's context).
	closeGrace = 2 * time.Second
	// backendTimeout bounds one backend call made for a client payload.
	backendTimeout = 10 * time.Second
	// acceptBackoff is the pause after a temporary accept error.
	acceptBackoff = 10 * time.Millisecond
)

// New applies the defaults to cfg, validates it and binds the listener
// (Addr reports it). No goroutine runs until Start; Close releases
// everything even if Start was never called.
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
			return nil, fmt.Errorf("gateway: listen %s: %w", cfg.Addr, err)
		}
	}
	s := &Server{
		cfg: cfg, ln: connlimit.Wrap(ln, cfg.Conns), quit: make(chan struct{}), adopt: make(chan *wsConn),
		upgrading: map[net.Conn]struct{}{}, conns: map[*wsConn]struct{}{}, sessions: map[string]*session{},
		byUser: map[model.Snowflake][]*session{}, subs: map[model.Snowflake][]*session{},
		identifies: map[model.Snowflake]*window{},
	}
	p, err := newPoller(s.goWork)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.poller = p
	s.flusher = newFlusher(max(4, 2*runtime.GOMAXPROCS(0)))
	return s, nil
}

// Addr is the bound listen address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Start starts the accept loop, the poll loop, the sweeper and the
// flusher, and returns at once. Backend calls get contexts derived from
// ctx's values that end when Close gives up on the graceful part, not when
// ctx is cancelled: only Close stops the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed.Load():
		return ErrClosed
	case s.started:
		return ErrStarted
	}
	s.started = true
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.flusher.start()
	s.loops.Add(4)
	go func() { defer s.loops.Done(); s.poller.run(func(c *wsConn) { s.readable(life, c) }) }()
	go func() { defer s.loops.Done(); s.sweep(life) }()
	go func() { defer s.loops.Done(); s.accept() }()
	go func() { defer s.loops.Done(); s.adoptLoop(life) }()
	return nil
}

// goWork runs f on a goroutine counted in s.work. Callers are the
// goroutines listed on Server (never a caller of the exported API).
func (s *Server) goWork(f func()) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		f()
	}()
}

// Close stops accepting, sends op 7 Reconnect and a close frame to every
// connection, waits until they are gone (graceful part: at most closeGrace,
// and bounded by ctx), then cancels backend calls, drops what is left and
// waits for every goroutine the server started. It is idempotent; later
// calls return once the first has finished.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.shutdown(ctx) })
	return nil
}

func (s *Server) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closed.Store(true)
	close(s.quit)
	_ = s.ln.Close()
	for nc := range s.upgrading {
		_ = nc.Close() // the upgrade fails at once
	}
	conns := s.connsLocked()
	if len(conns) > 0 {
		s.drained = make(chan struct{})
	}
	drained, cancel := s.drained, s.cancel
	s.mu.Unlock()

	reconnect := controlFrame(OpReconnect, nil)
	for _, c := range conns {
		c.queue(reconnect)
		c.closeWith(CloseUnknownError, false)
	}
	if drained != nil {
		grace := time.NewTimer(closeGrace)
		select {
		case <-drained:
		case <-grace.C:
		case <-ctx.Done():
		}
		grace.Stop()
	}

	if cancel != nil {
		cancel()
	}
	s.mu.RLock()
	conns = s.connsLocked()
	s.mu.RUnlock()
	for _, c := range conns {
		s.drop(c, ErrClosed) // unblocks its reads, slow writes and linger
	}
	s.flusher.close()
	s.poller.close()
	s.loops.Wait()
	s.work.Wait()
	s.poller.release()
}

func (s *Server) connsLocked() []*wsConn {
	out := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// drop closes a connection without a close frame; idempotent.
func (s *Server) drop(c *wsConn, err error) {
	if c.dead.Swap(true) {
		return
	}
	if c.gone != nil {
		close(c.gone) // ends an adopted connection's writeLoop
	}
	c.unpoll()
	_ = c.nc.Close()
	c.mu.Lock()
	sess, end := c.sess, c.endSession
	c.ctrl, c.ctrlBytes = nil, 0
	c.mu.Unlock()
	s.mu.Lock()
	delete(s.conns, c)
	if s.drained != nil && len(s.conns) == 0 {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) {
		s.cfg.Logger.Debug("gateway conn closed", "err", err)
	}
	if sess != nil {
		sess.detach(c, time.Now())
		if end {
			s.endSession(sess)
		}
	}
}

// callCtx bounds one backend call made for a client payload; ctx is the
// lifetime context Start made, which Close cancels.
func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, backendTimeout)
}

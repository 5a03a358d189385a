package mediaproxy

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// front is the fasthttp front's connections: an accept loop and one
// goroutine per connection, serving through fasthttp.Server.ServeConn.
// The Server owns them: Start starts the loop, Close waits for it and for
// every connection goroutine. (fasthttp's own Serve is not used: its
// worker pool's goroutines, and a cleaner that sleeps
// MaxIdleWorkerDuration between rounds, outlive its Shutdown.)
type front struct {
	srv  *fasthttp.Server
	ln   net.Listener
	log  *slog.Logger
	stop chan struct{} // closed by close; ends the accept back-off

	loop  sync.WaitGroup // the accept loop
	conns sync.WaitGroup // connection goroutines; Add only under mu before closing

	mu     sync.Mutex
	active map[net.Conn]bool // guarded by mu; true while a request is read or handled
	// closing is set once by close, under mu, so that the accept loop and
	// connState (which read it under mu) see it in order with active and
	// conns; HandleFastHTTP reads it without the lock, per request.
	closing atomic.Bool
}

func newFront(srv *fasthttp.Server, ln net.Listener, log *slog.Logger) *front {
	f := &front{srv: srv, ln: ln, log: log, stop: make(chan struct{}), active: map[net.Conn]bool{}}
	srv.ConnState = f.connState
	return f
}

// start runs the accept loop.
func (f *front) start() {
	f.loop.Add(1)
	go f.acceptLoop()
}

func (f *front) acceptLoop() {
	defer f.loop.Done()
	var delay time.Duration
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off as net/http
			// does (5 ms doubling to 1 s) and try again.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			f.log.Warn("media accept", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-f.stop:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		f.mu.Lock()
		if f.closing.Load() {
			f.mu.Unlock()
			_ = c.Close()
			continue
		}
		f.active[c] = false
		f.conns.Add(1)
		f.mu.Unlock()
		go f.serveConn(c)
	}
}

func (f *front) serveConn(c net.Conn) {
	defer f.conns.Done()
	if err := f.srv.ServeConn(c); err != nil && !errors.Is(err, net.ErrClosed) {
		f.log.Debug("media connection", "err", err)
	}
	_ = c.Close() // ServeConn has closed it, except on some refusals
	f.mu.Lock()
	delete(f.active, c)
	f.mu.Unlock()
}

// connState tracks which connections are inside a request. A connection
// that goes idle while the server is closing is closed at once.
func (f *front) connState(c net.Conn, st fasthttp.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.active[c]; !ok {
		return
	}
	switch st {
	case fasthttp.StateActive:
		f.active[c] = true
	case fasthttp.StateIdle:
		f.active[c] = false
		if f.closing.Load() {
			_ = c.Close()
		}
	}
}

// close stops accepting and closes idle connections; the others close
// after the request they are serving (HandleFastHTTP asks for
// Connection: close).
func (f *front) close() error {
	f.mu.Lock()
	if !f.closing.Swap(true) {
		close(f.stop)
	}
	for c, active := range f.active {
		if !active {
			_ = c.Close()
		}
	}
	f.mu.Unlock()
	if err := f.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// closeAll closes every connection, in a request or not.
func (f *front) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.active {
		_ = c.Close()
	}
}

// wait returns once the accept loop and every connection goroutine have
// ended; call it after close.
func (f *front) wait() {
	f.loop.Wait()
	f.conns.Wait()
}

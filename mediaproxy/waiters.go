package mediaproxy

import (
	"context"
	"net"
	"sync"
	"time"
)

// peerCheckInterval is how often the watcher looks at the connections of
// requests waiting for a job.
const peerCheckInterval = 100 * time.Millisecond

// waiterSet gives each request that waits for a job (a miss) a context
// that is cancelled when its client goes away (cause ErrClientGone) or
// the server halts (cause ErrClosed).
//
// fasthttp does not notice a client leaving while a handler runs (it reads
// the connection only between requests, and RequestCtx.Done fires only at
// server shutdown), so one watcher goroutine, owned by the Server, peeks
// at the waiting requests' connections every peerCheckInterval (a
// non-blocking MSG_PEEK: no byte is consumed, so pipelined requests are
// left for fasthttp). End of stream or an error means the client is gone,
// which is net/http's rule as well: a client that half-closes its side
// after the request counts as gone. Only misses register, so a cache hit
// costs nothing; requests from other fronts register without a connection
// and are cancelled by their own context or by halt.
type waiterSet struct {
	wg   sync.WaitGroup // the watcher goroutine
	stop chan struct{}  // closed by halt
	wake chan struct{}  // cap 1: a connection to watch was added

	mu      sync.Mutex
	waiters map[*waiter]struct{} // guarded by mu
	watched int                  // guarded by mu; waiters with a connection
	halted  bool                 // guarded by mu
}

type waiter struct {
	conn   net.Conn // nil: nothing to watch
	cancel context.CancelCauseFunc
}

func newWaiterSet() *waiterSet {
	return &waiterSet{stop: make(chan struct{}), wake: make(chan struct{}, 1), waiters: map[*waiter]struct{}{}}
}

// add registers a waiter for the connection conn (nil for none) and returns
// its context and the function that unregisters it, which the caller must
// call once it stops waiting.
func (ws *waiterSet) add(ctx context.Context, conn net.Conn) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &waiter{conn: conn, cancel: cancel}
	ws.mu.Lock()
	if ws.halted {
		ws.mu.Unlock()
		cancel(ErrClosed)
		return ctx, func() {}
	}
	ws.waiters[w] = struct{}{}
	if conn != nil {
		ws.watched++
	}
	ws.mu.Unlock()
	if conn != nil {
		select {
		case ws.wake <- struct{}{}:
		default:
		}
	}
	return ctx, func() {
		ws.mu.Lock()
		delete(ws.waiters, w)
		if conn != nil {
			ws.watched--
		}
		ws.mu.Unlock()
		cancel(nil)
	}
}

// start runs the watcher until halt.
func (ws *waiterSet) start() {
	ws.wg.Go(ws.watch)
}

func (ws *waiterSet) watch() {
	t := time.NewTicker(peerCheckInterval)
	defer t.Stop()
	var conns []*waiter
	for {
		ws.mu.Lock()
		idle := ws.watched == 0
		ws.mu.Unlock()
		if idle { // sleep until a connection is added
			select {
			case <-ws.wake:
			case <-ws.stop:
				return
			}
		}
		select {
		case <-t.C:
		case <-ws.stop:
			return
		}
		conns = conns[:0]
		ws.mu.Lock()
		for w := range ws.waiters {
			if w.conn != nil {
				conns = append(conns, w)
			}
		}
		ws.mu.Unlock()
		for _, w := range conns {
			if peerGone(w.conn) {
				w.cancel(ErrClientGone)
			}
		}
		clear(conns)
	}
}

// halt cancels every waiter with cause ErrClosed, makes add cancel new
// ones at once and stops the watcher.
func (ws *waiterSet) halt() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.halted {
		return
	}
	ws.halted = true
	for w := range ws.waiters {
		w.cancel(ErrClosed)
	}
	close(ws.stop)
}

// wait returns once the watcher has ended; call it after halt.
func (ws *waiterSet) wait() { ws.wg.Wait() }

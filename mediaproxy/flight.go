package mediaproxy

import (
	"context"
	"errors"
	"sync"
)

// errAbandoned is the cancellation cause of a job every waiter left.
var errAbandoned = errors.New("mediaproxy: every waiter left")

// flightGroup coalesces concurrent identical misses into one job and owns
// the jobs' goroutines: each runs in a goroutine the group starts, halt
// cancels them all and refuses new ones, and wait returns once every one
// has ended (Server.Close calls both).
//
// A job goes on while someone waits for it. When its last waiter leaves
// (the client went away, or its own deadline passed) the job is cancelled,
// giving back its place in a queue or its worker slot, unless it has
// committed: produce commits once it holds a worker slot and the result is
// going to be cached, because finishing then costs less than the work
// already spent and the next request for the variant is a cache hit. A
// cancelled job leaves the group at once, so a later request for its key
// starts a new one.
type flightGroup struct {
	wg sync.WaitGroup // one per job goroutine; Add only under mu, never after halt

	mu      sync.Mutex
	calls   map[string]*flightCall // guarded by mu; jobs a new waiter may join
	running int                    // guarded by mu; job goroutines not yet ended
	idleChs []chan struct{}        // guarded by mu; closed when running drops to 0
	halted  bool                   // guarded by mu
}

// flightCall is one job and what its waiters read once done is closed.
type flightCall struct {
	key    string
	done   chan struct{} // closed when res and err are set
	res    Variant
	err    error
	cancel context.CancelCauseFunc // cancels the job's context

	waiters   int  // guarded by flightGroup.mu
	committed bool // guarded by flightGroup.mu
}

// Do makes the caller a waiter of the job for key, starting the job
// (leader) when none is in flight: fn then runs in a goroutine the group
// owns, with a context that halt or abandonment cancels (its own deadline
// is fn's to set); fn calls commit to finish even without waiters. A
// waiter reads the result once c.done is closed, or stops waiting earlier
// and calls leave. After halt, Do fails with ErrClosed.
func (g *flightGroup) Do(key string, fn func(ctx context.Context, commit func()) (Variant, error)) (c *flightCall, leader bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.halted {
		return nil, false, ErrClosed
	}
	if c, ok := g.calls[key]; ok {
		c.waiters++
		return c, false, nil
	}
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c = &flightCall{key: key, done: make(chan struct{}), cancel: cancel, waiters: 1}
	g.calls[key] = c
	g.running++
	g.wg.Go(func() {
		res, err := fn(ctx, func() { g.commit(c) })
		cancel(nil)
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		c.res, c.err = res, err
		close(c.done)
		if g.running--; g.running == 0 {
			for _, ch := range g.idleChs {
				close(ch)
			}
			g.idleChs = nil
		}
		g.mu.Unlock()
	})
	return c, true, nil
}

// commit makes c finish even if every waiter leaves.
func (g *flightGroup) commit(c *flightCall) {
	g.mu.Lock()
	c.committed = true
	g.mu.Unlock()
}

// leave is called by a waiter that stops waiting before c is done. The
// last one to leave an uncommitted job cancels it and reports true.
func (g *flightGroup) leave(c *flightCall) (abandoned bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.waiters--; c.waiters > 0 || c.committed {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	if g.calls[c.key] == c {
		delete(g.calls, c.key)
	}
	c.cancel(errAbandoned)
	return true
}

// idle returns a channel closed once no job is running (at once if none
// is). Jobs started after it fired are not waited for: wait is the strict
// end, idle the graceful one.
func (g *flightGroup) idle() <-chan struct{} {
	ch := make(chan struct{})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running == 0 {
		close(ch)
		return ch
	}
	g.idleChs = append(g.idleChs, ch)
	return ch
}

// halt cancels every job in flight with cause ErrClosed and makes Do
// refuse new ones.
func (g *flightGroup) halt() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.halted = true
	for _, c := range g.calls {
		c.cancel(ErrClosed)
	}
}

// wait returns when every job goroutine has ended; call it after halt.
func (g *flightGroup) wait() { g.wg.Wait() }

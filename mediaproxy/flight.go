package mediaproxy

import (
	"context"
	"sync"
)

// flightGroup coalesces concurrent identical misses into one job and owns
// the jobs' goroutines: each runs in a goroutine the group starts, halt
// cancels them all and refuses new ones, and wait returns once every one
// has ended (Server.Close calls both).
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
	done   chan struct{} // closed when res and err are set
	res    Variant
	err    error
	cancel context.CancelCauseFunc // cancels the job's context
}

// Do returns the job for key, starting it (leader) when none is in flight:
// fn then runs in a goroutine the group owns, with a context that halt
// cancels (its own deadline is fn's to set). Waiters read the result after
// c.done is closed and can stop waiting on their own deadline without
// cancelling the shared work. After halt, Do fails with ErrClosed.
func (g *flightGroup) Do(key string, fn func(ctx context.Context) (Variant, error)) (c *flightCall, leader bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.halted {
		return nil, false, ErrClosed
	}
	if c, ok := g.calls[key]; ok {
		return c, false, nil
	}
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c = &flightCall{done: make(chan struct{}), cancel: cancel}
	g.calls[key] = c
	g.running++
	g.wg.Go(func() {
		res, err := fn(ctx)
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

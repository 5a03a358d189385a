package mediaproxy

import "sync"

// flightGroup coalesces concurrent identical misses: the first caller for a
// key runs fn, later callers wait for its result.
type flightGroup struct {
	mu    sync.Mutex
	calls map[string]*flightCall // guarded by mu
}

type flightCall struct {
	done    chan struct{}
	res     Variant
	err     error
	waiters int // guarded by flightGroup.mu
}

// Do returns fn's result for key and whether it was shared with another
// caller. It returns the call's done channel so callers can stop waiting
// on their own deadline without cancelling the shared work.
func (g *flightGroup) Do(key string, fn func() (Variant, error)) (c *flightCall, leader bool) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flightCall{}
	}
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		return c, false
	}
	c = &flightCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	go func() { // owned by the group; ends when fn returns
		c.res, c.err = fn()
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	return c, true
}

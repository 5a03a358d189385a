//go:build !linux

package gateway

import "sync/atomic"

// poller is the portable fallback: one goroutine per connection blocking in
// read (more memory per idle connection than the Linux epoll loop). The
// goroutines are started through spawn, so the server owns and waits for
// them; each ends when its connection is dropped or the poller closes.
type poller struct {
	closed atomic.Bool
	spawn  func(func())
	ready  func(*wsConn)
	start  chan struct{}
}

func newPoller(spawn func(func())) (*poller, error) {
	return &poller{spawn: spawn, start: make(chan struct{})}, nil
}

func (p *poller) add(c *wsConn) error {
	p.spawn(func() {
		<-p.start
		for !p.closed.Load() && !c.isDead() && !c.isClosing() {
			p.ready(c)
		}
	})
	return nil
}

func (p *poller) rearm(*wsConn) error { return nil }
func (p *poller) remove(*wsConn)      {}

func (p *poller) run(ready func(*wsConn)) {
	p.ready = ready
	close(p.start)
}

func (p *poller) close()   { p.closed.Store(true) }
func (p *poller) release() {}

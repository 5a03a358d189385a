//go:build !linux

package gateway

import "sync/atomic"

// poller is the portable fallback: one goroutine per connection blocking in
// read (more memory per idle connection than the Linux epoll loop).
type poller struct {
	closed atomic.Bool
	ready  func(*wsConn)
	start  chan struct{}
}

func newPoller() (*poller, error) { return &poller{start: make(chan struct{})}, nil }

func (p *poller) add(c *wsConn) error {
	go func() {
		<-p.start
		for !p.closed.Load() && !c.isDead() {
			p.ready(c)
		}
	}()
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

package mediaproxy

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Pool bounds libvips work: at most workers jobs run at once and at most
// queue more wait; beyond that Acquire fails with ErrOverloaded at once.
type Pool struct {
	slots   chan struct{}
	limit   int64
	pending atomic.Int64 // running + waiting
	waiting atomic.Int64
}

// NewPool returns a pool of workers slots with a queue of queue waiters.
func NewPool(workers, queue int) *Pool {
	return &Pool{slots: make(chan struct{}, workers), limit: int64(workers + queue)}
}

// Acquire takes a slot, waiting in the queue while ctx allows. The caller
// must call the returned release exactly once.
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	if p.pending.Add(1) > p.limit {
		p.pending.Add(-1)
		return nil, fmt.Errorf("%w: worker queue full", ErrOverloaded)
	}
	p.waiting.Add(1)
	select {
	case p.slots <- struct{}{}:
		p.waiting.Add(-1)
		return func() {
			<-p.slots
			p.pending.Add(-1)
		}, nil
	case <-ctx.Done():
		p.waiting.Add(-1)
		p.pending.Add(-1)
		return nil, fmt.Errorf("%w: waiting for a worker", ErrTimeout)
	}
}

// QueueDepth is the number of jobs waiting for a worker.
func (p *Pool) QueueDepth() int { return int(p.waiting.Load()) }

// Running is the number of jobs holding a worker.
func (p *Pool) Running() int { return len(p.slots) }

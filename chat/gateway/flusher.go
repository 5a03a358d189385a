package gateway

import (
	"sync"
	"time"
)

// fastWriteTimeout bounds a write on a flusher worker; a connection whose
// socket buffer stays full longer is handed to a goroutine of its own so a
// slow client never stalls the workers.
const fastWriteTimeout = 20 * time.Millisecond

// flusher is a small pool of workers writing connections' pending frames.
// A connection is queued at most once (wsConn.flushing), so while the pool
// is busy more frames accumulate per connection and each write coalesces
// them: the busier the gateway, the fewer syscalls per delivery.
type flusher struct {
	workers int
	wg      sync.WaitGroup // the workers

	mu   sync.Mutex
	cond *sync.Cond
	// Guarded by mu:
	queue  []*wsConn
	head   int
	closed bool
}

func newFlusher(workers int) *flusher {
	f := &flusher{workers: workers}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// start starts the workers (once, from Server.Start).
func (f *flusher) start() {
	for range f.workers {
		f.wg.Add(1)
		go f.run()
	}
}

func (f *flusher) push(c *wsConn) {
	f.mu.Lock()
	f.queue = append(f.queue, c)
	f.mu.Unlock()
	f.cond.Signal()
}

// pushAll queues several connections with one lock round.
func (f *flusher) pushAll(cs []*wsConn) {
	if len(cs) == 0 {
		return
	}
	f.mu.Lock()
	f.queue = append(f.queue, cs...)
	f.mu.Unlock()
	f.cond.Broadcast()
}

func (f *flusher) run() {
	defer f.wg.Done()
	batch := make([]*wsConn, 0, 32)
	for {
		f.mu.Lock()
		for f.head == len(f.queue) && !f.closed {
			f.cond.Wait()
		}
		if f.head == len(f.queue) {
			f.mu.Unlock()
			return
		}
		n := min(cap(batch), len(f.queue)-f.head)
		batch = append(batch[:0], f.queue[f.head:f.head+n]...)
		clear(f.queue[f.head : f.head+n])
		f.head += n
		if f.head == len(f.queue) {
			f.queue, f.head = f.queue[:0], 0
		}
		f.mu.Unlock()
		for _, c := range batch {
			c.flush(false)
		}
	}
}

// close stops the workers once the queue is empty and waits for them;
// pushes after close are never written (their connections are dropped).
func (f *flusher) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cond.Broadcast()
	f.wg.Wait()
}

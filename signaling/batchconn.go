package signaling

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// batchBytes bounds what a batchConn holds before it writes.
const batchBytes = 16 << 10

// batchBufs recycles the buffers of bursts: a connection holds one only
// during a burst.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchBytes); return &b }}

// batchConn is a hijacked connection whose writes are held while its
// connection's writer has more frames to write (a room's introduction, a
// join storm) and written together when it has none, so a burst costs a
// write per batchBytes instead of one or two per message, for the server
// and for the client reading it. While the writer is idle, writes (the
// other goroutines' control frames too) go straight through; a control
// frame written during a burst waits at most for the burst's end. Close
// writes what is held (bounded by the deadline last set) before closing.
type batchConn struct {
	net.Conn
	// hold is set by the writer while it has more to write.
	hold atomic.Bool
	mu   sync.Mutex // guards buf; serialises writes
	buf  *[]byte    // from batchBufs while writes are held
}

// NetConn returns the wrapped connection (connlimit.Admit finds its
// listener's connection through it).
func (b *batchConn) NetConn() net.Conn { return b.Conn }

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hold.Load() {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.Conn.Write(p)
	}
	if b.buf != nil && len(*b.buf)+len(p) > batchBytes {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) >= batchBytes {
		return b.Conn.Write(p)
	}
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// release stops holding writes and writes what is held; the buffer is
// dropped, so an idle connection holds none.
func (b *batchConn) release() error {
	b.hold.Store(false)
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	b.dropLocked()
	return err
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil || len(*b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// dropLocked returns the buffer to the pool.
func (b *batchConn) dropLocked() {
	if b.buf != nil {
		*b.buf = (*b.buf)[:0]
		batchBufs.Put(b.buf)
		b.buf = nil
	}
}

// Close writes what is held, then closes the connection.
func (b *batchConn) Close() error {
	b.hold.Store(false)
	b.mu.Lock()
	_ = b.flushLocked()
	b.dropLocked()
	b.mu.Unlock()
	return b.Conn.Close()
}

// batchHijacker hands the WebSocket upgrader a batchConn.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn
}

func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	return h.conn, brw, nil
}

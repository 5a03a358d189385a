package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// wsConn is one WebSocket connection. Reads happen on work goroutines the
// poller starts per readable frame (at most one at a time, guarded by
// reading). Writes happen in flush, run by a flusher worker (queued at most
// once, guarded by flushing); a write that stalls, and the lingering close,
// continue on a work goroutine of their own (finishSlow, linger) while
// flushing stays set, so there is still one writer at a time.
//
// A connection ServeHTTP adopted (TLS from the web origin: the poller
// cannot see the bytes crypto/tls has buffered, and a TLS write that
// times out cannot be resumed) has a reader and a writer goroutine of its
// own instead (readLoop, writeLoop): kicking it signals wake where a
// polled connection is pushed to the flusher.
type wsConn struct {
	srv     *Server
	nc      net.Conn // the connection (connlimit's wrapper): all I/O and Close
	raw     net.Conn // the socket under nc, for its descriptor (poller); nil when adopted
	fd      int
	created int64 // unix nanos
	// wake (capacity 1) and gone (closed by drop) drive an adopted
	// connection's writeLoop; both are nil for a polled connection.
	wake, gone chan struct{}
	// resumeURL is resume_gateway_url in READY when it is not
	// Config.ResumeURL (an adopted connection's own URL).
	resumeURL string

	reading  atomic.Bool
	dead     atomic.Bool
	lastRecv atomic.Int64 // unix nanos of the last client frame

	// compress is set at upgrade for compress=zlib-stream; zStarted (the
	// one writer only) records that the zlib header went out.
	compress bool
	zStarted bool

	// Reader-goroutine state (one reader at a time).
	winStart int64
	winCount int

	mu sync.Mutex
	// Guarded by mu:
	ctrl       [][]byte // control frames waiting to be written
	ctrlBytes  int      // their size (at most maxCtrlBytes)
	dirty      bool     // something to write since the last check
	flushing   bool     // a writer (flush, finishSlow, linger) owns the connection
	closing    bool     // write a close frame after pending data, then close
	closeCode  CloseCode
	endSession bool // the close also ends the session
	sess       *session
}

func (c *wsConn) isDead() bool { return c.dead.Load() }

// unpoll takes a polled connection off the poller (adopted ones were
// never on it).
func (c *wsConn) unpoll() {
	if c.raw != nil {
		c.srv.poller.remove(c)
	}
}

// isClosing reports whether a close has begun (closeWith, or the client's
// close frame).
func (c *wsConn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

func (c *wsConn) session() *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// maxCtrlBytes bounds a connection's unwritten control frames (Hello,
// heartbeat ACKs, pongs, op 9): a client that keeps sending without
// reading what it is answered is closed (4008) instead of growing them.
const maxCtrlBytes = 64 << 10

// queue adds a control frame.
func (c *wsConn) queue(frame []byte) {
	c.mu.Lock()
	if !c.closing {
		if c.ctrlBytes+len(frame) > maxCtrlBytes {
			c.closing, c.closeCode, c.endSession = true, CloseRateLimited, false
		} else {
			c.ctrl = append(c.ctrl, frame)
			c.ctrlBytes += len(frame)
		}
		c.kickLocked()
	}
	c.mu.Unlock()
}

func (c *wsConn) kick() {
	c.mu.Lock()
	c.kickLocked()
	c.mu.Unlock()
}

// mark sets dirty and reports whether the caller must queue c for a flush
// (batch form of kick, used by Dispatch).
func (c *wsConn) mark() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dirty = true
	if c.flushing || c.dead.Load() {
		return false
	}
	c.flushing = true
	if c.wake != nil {
		c.signal() // an adopted connection's own writer
		return false
	}
	return true
}

func (c *wsConn) kickLocked() {
	c.dirty = true
	if !c.flushing && !c.dead.Load() {
		c.flushing = true
		if c.wake != nil {
			c.signal()
		} else {
			c.srv.flusher.push(c)
		}
	}
}

// signal wakes an adopted connection's writeLoop (never blocks: one
// signal pending is enough, flushing keeps it to one).
func (c *wsConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// closeWith writes pending frames, then a close frame with code, then
// closes. endSession also ends the session (no resume).
func (c *wsConn) closeWith(code CloseCode, endSession bool) {
	c.mu.Lock()
	if !c.closing {
		c.closing, c.closeCode, c.endSession = true, code, endSession
		c.kickLocked()
	}
	c.mu.Unlock()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// flush writes everything pending, one write per round, until nothing is
// left. On a flusher worker (blocking false) a write that cannot finish
// within fastWriteTimeout, and the close handshake, continue on a work
// goroutine of their own (the server waits for it in Close).
func (c *wsConn) flush(blocking bool) {
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 64<<10 {
			*bp = buf[:0]
			bufPool.Put(bp)
		}
	}()
	for {
		c.mu.Lock()
		if !c.dirty || c.dead.Load() {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.dirty = false
		for _, f := range c.ctrl {
			buf = append(buf, f...)
		}
		c.ctrl, c.ctrlBytes = nil, 0
		sess, closing, code := c.sess, c.closing, c.closeCode
		c.mu.Unlock()
		if sess != nil {
			buf = sess.render(c, buf)
		}
		if closing {
			c.unpoll()
			buf = append(buf, closeFrame(code)...)
		}
		if c.compress && len(buf) > 0 {
			zb := bufPool.Get().(*[]byte)
			z := compressFrames((*zb)[:0], buf, &c.zStarted)
			buf, *zb = z, buf[:0]
			bufPool.Put(zb)
		}
		if len(buf) > 0 {
			timeout := c.srv.cfg.WriteTimeout
			if !blocking {
				timeout = fastWriteTimeout
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
			n, err := c.nc.Write(buf)
			c.srv.stats.bytesOut.Add(int64(n))
			c.srv.stats.writes.Add(1)
			if err != nil {
				if !blocking && errors.Is(err, os.ErrDeadlineExceeded) && !c.dead.Load() {
					rest := append([]byte(nil), buf[n:]...)
					c.srv.goWork(func() { c.finishSlow(rest, closing) })
					return
				}
				c.srv.drop(c, err)
				return
			}
			buf = buf[:0]
		}
		if closing {
			if blocking {
				c.linger()
				c.srv.drop(c, nil)
			} else {
				c.srv.goWork(func() { c.linger(); c.srv.drop(c, nil) })
			}
			return
		}
	}
}

// finishSlow completes a write that timed out on a worker, then keeps
// flushing this connection on its own goroutine.
func (c *wsConn) finishSlow(rest []byte, closing bool) {
	c.srv.stats.slowWriters.Add(1)
	defer c.srv.stats.slowWriters.Add(-1)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	n, err := c.nc.Write(rest)
	c.srv.stats.bytesOut.Add(int64(n))
	if err != nil {
		c.srv.drop(c, err)
		return
	}
	if closing {
		c.linger()
		c.srv.drop(c, nil)
		return
	}
	c.flush(true)
}

// linger half-closes after the close frame and drains what the client still
// sends for a moment, so unread input does not turn the close into a reset
// that would discard the close frame at the client.
func (c *wsConn) linger() {
	c.unpoll()
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 64<<10))
}

// countingReader counts bytes so a read timeout with nothing read can be
// told apart from a stalled frame.
type countingReader struct {
	r io.Reader
	n int
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n += n
	return n, err
}

// errIdle means a readiness event found no data (spurious wake-up).
var errIdle = errors.New("gateway: no data")

// readFrame reads one frame and returns its opcode and unmasked payload.
func (c *wsConn) readFrame(buf []byte) (ws.Header, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	cr := countingReader{r: c.nc}
	h, err := ws.ReadHeader(&cr)
	if err != nil {
		if cr.n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			return h, nil, errIdle
		}
		return h, nil, err
	}
	if h.Length > int64(c.srv.cfg.MaxFrame) {
		return h, nil, ErrFrameTooLarge
	}
	if !h.Masked {
		return h, nil, ws.ErrProtocolMaskRequired
	}
	p := buf[:h.Length]
	if _, err := io.ReadFull(c.nc, p); err != nil {
		return h, nil, err
	}
	ws.Cipher(p, h.Mask, 0)
	return h, p, nil
}

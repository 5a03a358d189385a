package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/gobwas/ws"
)

// readable reads one frame from a connection the poller saw readable (on
// a work goroutine); ctx is the server's lifetime context.
func (s *Server) readable(ctx context.Context, c *wsConn) {
	if c.dead.Load() || !c.reading.CompareAndSwap(false, true) {
		return
	}
	bp := bufPool.Get().(*[]byte)
	buf := (*bp)[:cap(*bp)]
	if len(buf) < s.cfg.MaxFrame {
		buf = make([]byte, s.cfg.MaxFrame)
	}
	h, payload, err := c.readFrame(buf)
	if err == nil {
		err = s.frame(ctx, c, h, payload)
	}
	*bp = buf[:0]
	bufPool.Put(bp)
	c.reading.Store(false)
	switch {
	case err == nil, errors.Is(err, errIdle):
		// A closing connection is not read again: its writer takes it off
		// the poller and lingers, draining what the client still sends.
		// (Rearming it raced with that removal, and a failed rearm dropped
		// the connection with input unread: a reset instead of the close
		// frame.)
		if c.raw != nil && !c.dead.Load() && !c.isClosing() { // an adopted one: its readLoop reads on
			if err := s.poller.rearm(c); err != nil && !c.dead.Load() && !c.isClosing() {
				s.drop(c, err)
			}
		}
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ws.ErrProtocolMaskRequired):
		c.closeWith(CloseDecodeError, false)
	default:
		s.drop(c, err)
	}
}

// frame handles one WebSocket frame. Every frame but close counts
// against Config.EventsPerMinute (pings and pongs too: each is answered or
// read at the server's cost); control frames must be whole and at most 125
// bytes (RFC 6455 §5.5).
func (s *Server) frame(ctx context.Context, c *wsConn, h ws.Header, p []byte) error {
	if h.OpCode.IsControl() && (!h.Fin || len(p) > 125) {
		c.closeWith(CloseDecodeError, false)
		return nil
	}
	if h.OpCode != ws.OpClose && !s.countFrame(c) {
		return nil
	}
	switch h.OpCode {
	case ws.OpPing:
		c.queue(append(appendFrameHeader(nil, ws.OpPong, len(p)), p...))
		return nil
	case ws.OpPong:
		return nil
	case ws.OpClose:
		code := ws.StatusNoStatusRcvd
		if len(p) >= 2 {
			code = ws.StatusCode(uint16(p[0])<<8 | uint16(p[1]))
		}
		// 1000/1001 from the client end the session (discord.js logout);
		// other codes keep it resumable.
		end := code == ws.StatusNormalClosure || code == ws.StatusGoingAway
		// The echo is written here only if no writer owns the connection,
		// and this reader then takes the writer's place (flushing) so none
		// starts: one writer at a time (see wsConn). With a writer at work
		// (or queued) the echo is skipped; the drop below cuts that write
		// short either way.
		c.mu.Lock()
		c.closing, c.endSession = true, end
		echo := !c.flushing
		c.flushing = true
		c.mu.Unlock()
		if echo {
			body := ws.NewCloseFrameBody(code, "")
			if code == ws.StatusNoStatusRcvd {
				body = nil
			}
			_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.nc.Write(append(appendFrameHeader(nil, ws.OpClose, len(body)), body...))
		}
		s.drop(c, nil)
		return nil
	case ws.OpText:
		if !h.Fin {
			c.closeWith(CloseDecodeError, false)
			return nil
		}
		s.handle(ctx, c, p)
		return nil
	default: // binary (etf, compressed) and fragmented frames are not supported
		c.closeWith(CloseDecodeError, false)
		return nil
	}
}

package voiceclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/parleyhq/parley/voiceproto"
)

// openUDP connects the media socket to the address in Ready, starts the UDP
// reader and runs IP discovery (voice-protocol.md §3.1).
func (c *Conn) openUDP(ctx context.Context, ready voiceproto.Ready) error {
	addr := net.JoinHostPort(ready.IP, strconv.Itoa(ready.Port))
	if c.cfg.MediaAddr != "" {
		addr = c.cfg.MediaAddr
	}
	raddr, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return fmt.Errorf("%w: ready address: %v", ErrHandshake, err)
	}
	u, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDiscovery, err)
	}
	_ = u.SetReadBuffer(1 << 20)
	c.wmu.Lock()
	select {
	case <-c.closing:
		c.wmu.Unlock()
		_ = u.Close()
		return fmt.Errorf("%w: %w", ErrHandshake, c.Err())
	default:
	}
	c.udp = u
	c.wmu.Unlock()
	c.wg.Add(1)
	go c.udpLoop(u)

	req := voiceproto.DiscoveryRequest(c.ssrc)
	t := time.NewTicker(discoveryInterval)
	defer t.Stop()
	for range discoveryAttempts {
		if _, err := u.Write(req[:]); err != nil {
			return fmt.Errorf("%w: %v", ErrDiscovery, err)
		}
		select {
		case resp := <-c.discoCh:
			ssrc, addr, err := voiceproto.ParseDiscoveryResponse(resp)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrDiscovery, err)
			}
			if ssrc != c.ssrc {
				return fmt.Errorf("%w: response for ssrc %d, want %d", ErrDiscovery, ssrc, c.ssrc)
			}
			c.extIP, c.extPort = addr.Addr().String(), int(addr.Port())
			return nil
		case <-t.C:
		case <-c.closing:
			return fmt.Errorf("%w: %w", ErrDiscovery, c.Err())
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrDiscovery, ctx.Err())
		}
	}
	return fmt.Errorf("%w: no response after %d requests", ErrDiscovery, discoveryAttempts)
}

// udpLoop reads media datagrams: discovery responses go to the handshake,
// RTP is decrypted and delivered, keepalives and RTCP are ignored. With
// DAVE it wakes at least every daveExpireEvery (a read deadline) to let
// DAVE's held frames of quiet senders go (expireDAVE).
func (c *Conn) udpLoop(u *net.UDPConn) {
	defer c.wg.Done()
	buf := make([]byte, 2048)
	clear := make([]byte, 0, 2048)
	var next time.Time
	if c.dave != nil {
		next = time.Now().Add(daveExpireEvery)
		_ = u.SetReadDeadline(next)
	}
	for {
		n, err := u.Read(buf)
		now := time.Now()
		if c.dave != nil && (!now.Before(next) || errors.Is(err, os.ErrDeadlineExceeded)) {
			c.expireDAVE()
			next = now.Add(daveExpireEvery)
			_ = u.SetReadDeadline(next)
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			select {
			case <-c.closing:
				return
			default:
			}
			// ICMP port unreachable and the like: transient.
			c.stats.udpErrors.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c.handleDatagram(buf[:n], clear, now)
	}
}

// handleDatagram classifies one datagram and delivers it if it is a
// decryptable Opus RTP packet. clear is scratch space of at least
// len(pkt) bytes capacity.
func (c *Conn) handleDatagram(pkt, clear []byte, now time.Time) {
	switch voiceproto.Classify(pkt) {
	case voiceproto.KindDiscoveryResponse:
		trySend(c.discoCh, append([]byte(nil), pkt...))
		return
	case voiceproto.KindRTP:
	case voiceproto.KindRTCP:
		c.rtcpPacket(pkt, clear, now)
		return
	default:
		c.stats.ignored.Add(1)
		return
	}
	ciph := c.cipher.Load()
	if ciph == nil {
		c.stats.ignored.Add(1)
		return
	}
	out, err := ciph.Open(clear[:0], pkt)
	if err != nil {
		c.stats.decryptErrors.Add(1)
		return
	}
	h, err := voiceproto.ParseHeader(out)
	if err == nil && (h.PayloadType == voiceproto.PayloadTypeVP8 || h.PayloadType == voiceproto.PayloadTypeVP8+1) {
		c.videoPacket(h, out[h.PayloadStart:h.PayloadEnd], now)
		return
	}
	if err != nil || h.PayloadType != voiceproto.PayloadTypeOpus {
		c.stats.ignored.Add(1)
		return
	}
	c.deliver(Frame{
		SSRC: h.SSRC, Seq: h.Seq, Timestamp: h.Timestamp, Marker: h.Marker,
		Opus: out[h.PayloadStart:h.PayloadEnd], Received: now,
	})
}

// deliver maps the frame's SSRC to a user and calls OnFrame. Frames of an
// SSRC the server has not announced yet are held (bounded) until its op 5.
func (c *Conn) deliver(f Frame) {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	user, ok := c.users[f.SSRC]
	if !ok {
		q := c.pending[f.SSRC]
		if len(q) >= maxPendingPerSSRC || (q == nil && len(c.pending) >= maxPendingSSRCs) {
			c.stats.unknownSSRC.Add(1)
			return
		}
		c.stats.earlyFrames.Add(1)
		op := append([]byte(nil), f.Opus...)
		f.Opus = nil
		c.pending[f.SSRC] = append(q, pendingFrame{f: f, opus: op})
		return
	}
	c.flushPendingLocked(f.SSRC, user)
	f.UserID = user
	c.emitLocked(f)
}

// announce records the server's ssrc -> user mapping (op 5) and delivers
// frames held for that SSRC.
func (c *Conn) announce(user string, ssrc uint32) {
	if user == "" {
		return
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.members[user] = struct{}{}
	c.nmembers.Store(int32(len(c.members)))
	if ssrc == 0 {
		return
	}
	c.users[ssrc] = user
	c.flushPendingLocked(ssrc, user)
}

func (c *Conn) flushPendingLocked(ssrc uint32, user string) {
	q, ok := c.pending[ssrc]
	if !ok {
		return
	}
	delete(c.pending, ssrc)
	for _, p := range q {
		p.f.UserID, p.f.Opus = user, p.opus
		c.emitLocked(p.f)
	}
}

func (c *Conn) emitLocked(f Frame) {
	if c.dave != nil {
		c.decryptLocked(f)
		return
	}
	c.deliverLocked(f)
}

// deliverLocked counts f and calls OnFrame.
func (c *Conn) deliverLocked(f Frame) {
	if f.video {
		c.deliverVideoLocked(f)
		return
	}
	c.stats.framesReceived.Add(1)
	c.stats.bytesReceived.Add(uint64(len(f.Opus)))
	if c.cfg.OnFrame != nil {
		c.cfg.OnFrame(f)
	}
}

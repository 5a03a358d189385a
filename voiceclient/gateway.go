package voiceclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/voiceproto"
)

// readLoop reads the WebSocket, dispatches messages and, after a resumable
// close, reconnects and resumes (voice-protocol.md §2.5). It owns every
// WebSocket the connection uses after the first.
func (c *Conn) readLoop(ws *websocket.Conn) {
	defer c.wg.Done()
	defer close(c.readDone)
	resumes := 0
	for {
		typ, data, err := ws.ReadMessage()
		if err == nil {
			select {
			case <-c.closing: // leaving: read until the server's close frame
				continue
			default:
			}
		}
		if err == nil && typ == websocket.BinaryMessage {
			c.handleBinary(data)
			continue
		}
		if err == nil {
			op := c.handle(data)
			if op == voiceproto.OpResumed {
				resumes = 0
			}
			continue
		}
		select {
		case <-c.closing:
			return
		default:
		}
		code := closeCode(err)
		if !c.handshaken.Load() {
			c.fail(closeErr(code, err))
			return
		}
		if !code.Resumable() {
			c.fail(closeErr(code, err))
			return
		}
		c.log.Info("voice gateway dropped; resuming", "code", code, "err", err)
		for {
			resumes++
			if resumes > maxResumeAttempts {
				c.fail(fmt.Errorf("%w: after %d attempts: %v", ErrResumeFailed, maxResumeAttempts, err))
				return
			}
			ws, err = c.resume(resumes)
			if err == nil {
				break
			}
			select {
			case <-c.closing:
				return
			default:
			}
			c.log.Info("voice resume attempt failed", "attempt", resumes, "err", err)
		}
	}
}

// closeCode extracts the WebSocket close code; 1006 (abnormal) for network
// errors without a close frame.
func closeCode(err error) voiceproto.CloseCode {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return voiceproto.CloseCode(ce.Code)
	}
	return voiceproto.CloseAbnormal
}

func closeErr(code voiceproto.CloseCode, err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: ce.Code, Text: ce.Text}
	}
	return fmt.Errorf("%w: %v", ErrClosed, err)
}

// resume dials a new WebSocket and sends op 7 Resume; op 8 Hello and op 9
// Resumed are handled by readLoop.
func (c *Conn) resume(attempt int) (*websocket.Conn, error) {
	backoff := time.Duration(attempt-1) * 250 * time.Millisecond
	if backoff > 0 {
		t := time.NewTimer(backoff)
		select {
		case <-c.closing:
			t.Stop()
			return nil, ErrClosed
		case <-t.C:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	watched := make(chan struct{})
	go func() { // cancels the dial when the conn closes; resume waits for it
		defer close(watched)
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(); <-watched }()
	ws, _, err := c.dialer.DialContext(ctx, c.url, nil)
	if err != nil {
		return nil, err
	}
	c.wmu.Lock()
	select {
	case <-c.closing:
		c.wmu.Unlock()
		_ = ws.Close()
		return nil, ErrClosed
	default:
	}
	old := c.ws
	c.ws = ws
	c.wmu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	seqAck := c.seq.Load()
	if err := c.writeOp(voiceproto.OpResume, voiceproto.Resume{
		ServerID: voiceproto.ID(c.cfg.GuildID), SessionID: voiceproto.ID(c.cfg.SessionID), Token: c.cfg.Token, SeqAck: &seqAck,
	}); err != nil {
		_ = ws.Close()
		return nil, err
	}
	return ws, nil
}

// handle dispatches one server message and returns its opcode (-1 if it
// could not be parsed).
func (c *Conn) handle(data []byte) voiceproto.Op {
	var m voiceproto.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		c.stats.badMessages.Add(1)
		c.log.Debug("voice gateway: undecodable message", "err", err)
		return -1
	}
	if seq, ok := m.Sequence(); ok {
		c.seq.Store(seq)
	}
	bad := func(err error) voiceproto.Op {
		c.stats.badMessages.Add(1)
		c.log.Debug("voice gateway: bad payload", "op", m.Op, "err", err)
		return m.Op
	}
	switch m.Op {
	case voiceproto.OpHello:
		var d voiceproto.Hello
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		if d.HeartbeatInterval > 0 {
			iv := time.Duration(d.HeartbeatInterval * float64(time.Millisecond))
			select {
			case <-c.hbReset: // replace an unread value
			default:
			}
			c.hbReset <- iv
		}
		trySend(c.helloCh, d)
	case voiceproto.OpReady:
		var d voiceproto.Ready
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		trySend(c.readyCh, d)
	case voiceproto.OpSessionDescription:
		var d voiceproto.SessionDescription
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		if c.dave != nil {
			c.dave.sessionDescription(uint16(min(max(d.DaveProtocolVersion, 0), 1)))
		}
		trySend(c.sdCh, d)
	case voiceproto.OpHeartbeatACK:
		var d voiceproto.HeartbeatACK
		if err := json.Unmarshal(m.D, &d); err != nil {
			// Below v8 the ACK is a bare integer.
			d.T = m.D
		}
		if t, err := strconv.ParseInt(string(d.T), 10, 64); err == nil {
			c.hbAckedT.Store(t)
			c.lastRTT.Store(int64(time.Since(time.UnixMilli(t))))
		}
	case voiceproto.OpSpeaking:
		var d voiceproto.PeerSpeaking
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		c.announce(string(d.UserID), d.SSRC)
		if c.rtc != nil && string(d.UserID) != c.cfg.UserID {
			c.rtc.want(d.SSRC)
		}
		c.event(Event{Type: EventSpeaking, UserID: string(d.UserID), SSRC: d.SSRC, Speaking: d.Speaking})
	case voiceproto.OpClientsConnect:
		var d voiceproto.ClientsConnect
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		ids := voiceproto.IDs(d.UserIDs)
		c.dmu.Lock()
		for _, id := range ids {
			c.members[id] = struct{}{}
		}
		c.nmembers.Store(int32(len(c.members)))
		c.dmu.Unlock()
		c.event(Event{Type: EventClientsConnect, UserIDs: ids})
	case voiceproto.OpClientDisconnect:
		var d voiceproto.ClientDisconnect
		if err := json.Unmarshal(m.D, &d); err != nil {
			return bad(err)
		}
		c.dmu.Lock()
		delete(c.members, string(d.UserID))
		c.nmembers.Store(int32(len(c.members)))
		for s, u := range c.users {
			if u == string(d.UserID) {
				delete(c.users, s)
			}
		}
		c.dmu.Unlock()
		if c.dave != nil {
			c.dave.notify() // alone now? a waiting send may go
		}
		c.event(Event{Type: EventClientDisconnect, UserID: string(d.UserID)})
	case voiceproto.OpDAVEPrepareTransition, voiceproto.OpDAVEExecuteTransition, voiceproto.OpDAVEPrepareEpoch:
		if c.dave != nil {
			c.dave.handleJSON(m.Op, m.D)
		}
	case voiceproto.OpVideo:
		if err := c.onVideo(m.D); err != nil {
			return bad(err)
		}
	case voiceproto.OpMediaSinkWants:
		if err := c.onSinkWants(m.D); err != nil {
			return bad(err)
		}
	case voiceproto.OpResumed:
		c.log.Info("voice session resumed")
		c.event(Event{Type: EventResumed})
	default:
		c.log.Debug("voice gateway: ignored op", "op", m.Op)
	}
	return m.Op
}

func trySend[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

func (c *Conn) event(e Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
	}
}

// timerLoop sends heartbeats (interval from Hello) and UDP keepalives, and
// drops the WebSocket when ACKs stop so that readLoop resumes.
func (c *Conn) timerLoop() {
	defer c.wg.Done()
	hb := time.NewTimer(time.Hour)
	hb.Stop()
	var interval time.Duration
	keep := time.NewTicker(keepaliveInterval)
	defer keep.Stop()
	defer hb.Stop()
	missed := 0
	var keepCounter uint32
	for {
		select {
		case <-c.closing:
			return
		case iv := <-c.hbReset:
			interval = iv
			missed = 0
			c.hbAckedT.Store(c.hbSentT.Load())
			hb.Reset(interval)
		case <-hb.C:
			if c.hbSentT.Load() != c.hbAckedT.Load() {
				missed++
			} else {
				missed = 0
			}
			if missed > maxMissedHeartbeat {
				c.log.Info("voice heartbeat ACKs missing; reconnecting", "missed", missed)
				c.wmu.Lock()
				if c.ws != nil {
					_ = c.ws.Close() // readLoop sees an abnormal close and resumes
				}
				c.wmu.Unlock()
				missed = 0
				hb.Reset(interval)
				continue
			}
			t := time.Now().UnixMilli()
			if t <= c.hbSentT.Load() {
				t = c.hbSentT.Load() + 1
			}
			c.hbSentT.Store(t)
			seqAck := c.seq.Load()
			beat := voiceproto.Heartbeat{T: json.RawMessage(strconv.FormatInt(t, 10)), SeqAck: &seqAck}
			if err := c.writeOp(voiceproto.OpHeartbeat, beat); err != nil {
				c.log.Debug("voice heartbeat write failed", "err", err)
			}
			hb.Reset(interval)
		case <-keep.C:
			if u := c.udpConn(); u != nil && c.handshaken.Load() {
				keepCounter++
				b := voiceproto.Keepalive(keepCounter)
				_, _ = u.Write(b[:])
			}
		}
	}
}

// DropGateway closes the gateway WebSocket without a close frame, as a
// network failure would, so that the client resumes (tests, chaos runs).
func (c *Conn) DropGateway() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws != nil {
		_ = c.ws.UnderlyingConn().Close()
	}
}

func (c *Conn) udpConn() *net.UDPConn {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.udp
}

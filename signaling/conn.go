package signaling

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/connlimit"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/internal/voicetoken"
	"github.com/parleyhq/parley/voiceproto"
)

// outQueue bounds the messages waiting for a slow client; a client that
// lets it fill is closed with 4015 (resumable) rather than slowing others.
const outQueue = 256

// outFrame is one queued WebSocket message: JSON text or a DAVE binary
// frame.
type outFrame struct {
	data   []byte
	binary bool
}

// conn is one WebSocket connection. Its reader goroutine (run) owns the
// fields after the lock and starts, and waits for, one writer goroutine
// (writeLoop) that drains the backlog and out.
type conn struct {
	srv *Server
	ws  *websocket.Conn
	// batch is ws's connection when it batches the writer's bursts (nil
	// in tests that build a conn on a plain one).
	batch   *batchConn
	dialect voiceproto.Dialect
	remote  string
	out     chan outFrame
	// wake nudges the writer when the backlog grew.
	wake chan struct{}
	// done is closed when the socket is closed (closeNow).
	done chan struct{}
	// writerDone is closed when writeLoop returns.
	writerDone chan struct{}
	// kill is closed (once, killOnce) when the connection must end for a
	// reason found on a path that may not block (a full queue): the writer
	// closes the socket.
	kill     chan struct{}
	killOnce sync.Once
	// announcer is the session attached to this connection, whose
	// announcements the writer produces as it drains (set by attach).
	announcer atomic.Pointer[session]

	closeOnce sync.Once
	mu        sync.Mutex           // guards the following
	closedBy  voiceproto.CloseCode // set when the server closes the connection
	killWhy   string               // the close reason for kill
	// backlog is written before anything in out: the messages a resume
	// replays, which may be as many as the replay buffer holds and so
	// must not go through out's bound (they are bounded by ReplayBuffer).
	backlog []outFrame

	// Owned by the reader goroutine.
	sess          *session
	rate          bucket
	daveRate      bucket // a separate, larger budget for DAVE messages
	lastHeartbeat time.Time
	connectedAt   time.Time
}

func newConn(s *Server, ws *websocket.Conn, batch *batchConn, d voiceproto.Dialect, remote string) *conn {
	now := s.cfg.Now()
	return &conn{
		srv: s, ws: ws, batch: batch, dialect: d, remote: remote,
		out: make(chan outFrame, outQueue), wake: make(chan struct{}, 1),
		done: make(chan struct{}), writerDone: make(chan struct{}), kill: make(chan struct{}),
		rate:          newBucket(s.cfg.RateBurst, s.cfg.RatePerSecond, now),
		daveRate:      newBucket(s.cfg.DAVERateBurst, s.cfg.DAVERatePerSecond, now),
		lastHeartbeat: now, connectedAt: now,
	}
}

// run serves the connection until it closes, and returns once its writer
// has stopped too.
func (c *conn) run() {
	defer func() { <-c.writerDone }()
	go c.writeLoop() // owned by run, which waits for it
	hello := voiceproto.Hello{HeartbeatInterval: float64(c.srv.cfg.HeartbeatInterval.Milliseconds())}
	if c.dialect == voiceproto.DialectV8 {
		hello.V = 8
	}
	if b, err := json.Marshal(voiceproto.Message{Op: voiceproto.OpHello, D: hello}); err == nil {
		c.enqueue(outFrame{data: b})
	}
	err := c.readLoop()
	var ce *closeError
	switch {
	case errors.As(err, &ce):
		c.terminate(ce.code, ce.reason)
	case err != nil:
		c.closeNow(0, "")
	}
	c.finish(err)
}

// finish decides what happens to the session when the connection ends.
func (c *conn) finish(err error) {
	ss := c.sess
	if ss == nil {
		return
	}
	c.mu.Lock()
	by := c.closedBy
	c.mu.Unlock()
	clientLeft := websocket.IsCloseError(err, websocket.CloseNormalClosure)
	switch {
	case by == voiceproto.CloseGoingAway || by == voiceproto.CloseServerCrashed:
		ss.detach(c) // shutdown or slow client: resumable
	case by != 0 || clientLeft:
		ss.detach(c)
		c.srv.endSession(ss)
	default:
		ss.detach(c) // network drop: keep for resume
	}
}

func (c *conn) readLoop() error {
	cfg := &c.srv.cfg
	for {
		if c.sess == nil {
			_ = c.ws.SetReadDeadline(c.connectedAt.Add(cfg.IdentifyTimeout))
		} else {
			_ = c.ws.SetReadDeadline(c.lastHeartbeat.Add(cfg.HeartbeatTimeout))
		}
		typ, r, err := c.ws.NextReader()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.sess == nil {
					return closeWith(voiceproto.CloseNotAuthenticated, "identify timeout")
				}
				return closeWith(voiceproto.CloseSessionTimeout, "heartbeat timeout")
			}
			return err
		}
		data, err := io.ReadAll(io.LimitReader(r, cfg.MaxMessageBytes+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > cfg.MaxMessageBytes {
			return closeWith(voiceproto.CloseDecodeError, "message exceeds "+strconv.FormatInt(cfg.MaxMessageBytes, 10)+" bytes")
		}
		if typ == websocket.BinaryMessage {
			if !c.allowDAVE() {
				return closeWith(voiceproto.CloseRateLimited, "too many DAVE messages")
			}
			if err := c.handleBinary(data); err != nil {
				return err
			}
			continue
		}
		var m voiceproto.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			if !c.allow() {
				return closeWith(voiceproto.CloseRateLimited, "too many messages")
			}
			return closeWith(voiceproto.CloseDecodeError, "invalid JSON")
		}
		if isDAVEOp(m.Op) && !c.allowDAVE() || !isDAVEOp(m.Op) && !c.allow() {
			return closeWith(voiceproto.CloseRateLimited, "too many messages")
		}
		c.srv.metrics.messages.WithLabelValues(m.Op.Label()).Inc()
		if err := c.handle(m); err != nil {
			return err
		}
	}
}

// allow takes one token from the connection's rate bucket.
func (c *conn) allow() bool { return c.rate.take(c.srv.cfg.Now()) }

// allowDAVE takes one token from the connection's DAVE bucket: a member
// answers every membership change with a commit and an op 23, so DAVE
// messages get their own, larger budget (Config.DAVERateBurst).
func (c *conn) allowDAVE() bool { return c.daveRate.take(c.srv.cfg.Now()) }

// bucket is a token bucket owned by one goroutine.
type bucket struct {
	tokens, burst, perSecond float64
	last                     time.Time
}

func newBucket(burst int, perSecond float64, now time.Time) bucket {
	return bucket{tokens: float64(burst), burst: float64(burst), perSecond: perSecond, last: now}
}

// take refills for the time since the last call and takes one token.
func (b *bucket) take(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.perSecond)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func isDAVEOp(op voiceproto.Op) bool {
	return op == voiceproto.OpDAVEReadyForTransition || op == voiceproto.OpDAVEInvalidCommitWelcome
}

func (c *conn) handle(m voiceproto.RawMessage) error {
	switch m.Op {
	case voiceproto.OpIdentify:
		return c.identify(m.D)
	case voiceproto.OpResume:
		return c.resume(m.D)
	case voiceproto.OpHeartbeat:
		return c.heartbeat(m.D)
	}
	if c.sess == nil {
		if knownClientOp(m.Op) {
			return closeWith(voiceproto.CloseNotAuthenticated, "identify first")
		}
		return closeWith(voiceproto.CloseUnknownOpcode, "unknown opcode "+strconv.Itoa(int(m.Op)))
	}
	switch m.Op {
	case voiceproto.OpSelectProtocol:
		return c.selectProtocol(m.D)
	case voiceproto.OpSpeaking:
		return c.speaking(m.D)
	case voiceproto.OpVideo:
		return c.onVideo(m.D)
	case voiceproto.OpMediaSinkWants:
		return c.onSinkWants(m.D)
	case voiceproto.OpSessionUpdate:
		return c.onSessionUpdate(m.D)
	case voiceproto.OpDAVEReadyForTransition, voiceproto.OpDAVEInvalidCommitWelcome:
		msg, err := dave.DecodeJSON(dave.Opcode(m.Op), m.D)
		if err != nil {
			return closeWith(voiceproto.CloseBadRequest, "invalid "+m.Op.String()+" payload")
		}
		return c.srv.daveHandle(c.sess, msg)
	}
	return closeWith(voiceproto.CloseUnknownOpcode, "unknown opcode "+strconv.Itoa(int(m.Op)))
}

func knownClientOp(op voiceproto.Op) bool {
	switch op {
	case voiceproto.OpSelectProtocol, voiceproto.OpSpeaking, voiceproto.OpVideo, voiceproto.OpMediaSinkWants,
		voiceproto.OpSessionUpdate, voiceproto.OpDAVEReadyForTransition, voiceproto.OpDAVEInvalidCommitWelcome:
		return true
	}
	return false
}

// handleBinary decodes a client's DAVE binary frame (op 26 key package or
// op 28 commit/welcome, dave.md §3) and passes it to the room.
func (c *conn) handleBinary(data []byte) error {
	if c.sess == nil {
		return closeWith(voiceproto.CloseNotAuthenticated, "identify first")
	}
	msg, err := dave.DecodeClientFrame(data)
	switch {
	case err == nil:
	case errors.Is(err, dave.ErrUnknownOpcode):
		return closeWith(voiceproto.CloseUnknownOpcode, "unknown binary opcode")
	default:
		c.srv.metrics.dave.WithLabelValues("bad_frame").Inc()
		return closeWith(voiceproto.CloseBadRequest, "invalid DAVE frame: "+err.Error())
	}
	c.srv.metrics.messages.WithLabelValues(voiceproto.Op(msg.Opcode()).Label()).Inc()
	return c.srv.daveHandle(c.sess, msg)
}

func (c *conn) identify(d json.RawMessage) error {
	if c.sess != nil {
		return closeWith(voiceproto.CloseAlreadyAuthenticated, "already identified")
	}
	var id voiceproto.Identify
	if err := json.Unmarshal(d, &id); err != nil {
		return closeWith(voiceproto.CloseDecodeError, "invalid identify payload: "+err.Error())
	}
	if id.ServerID == "" || id.UserID == "" || id.SessionID == "" || id.Token == "" {
		return closeWith(voiceproto.CloseDecodeError, "identify needs server_id, user_id, session_id and token")
	}
	if err := voiceproto.CheckStreams(id.Streams); err != nil {
		return closeFor(voiceproto.CloseBadRequest, "invalid identify streams: "+err.Error(), err)
	}
	srv := c.srv
	claims, err := srv.cfg.Tokens.Verify(id.Token, string(id.UserID), string(id.ServerID), string(id.SessionID), srv.cfg.Now())
	if err != nil {
		return closeWith(voiceproto.CloseAuthenticationFailed, authReason(err))
	}
	daveMax := srv.daveMaxFor(id.MaxDaveProtocolVersion, c.dialect, claims.UserID, claims.ChannelID)
	if srv.cfg.DAVE == DAVERequired && daveMax == 0 {
		return closeWith(voiceproto.CloseE2EERequired, "DAVE end-to-end encryption required (max_dave_protocol_version 1 over v=8)")
	}
	if err := srv.checkServing(); err != nil {
		return err
	}
	mod, err := srv.admit(claims)
	if err != nil {
		return err
	}
	room := roomKey(claims.GuildID, claims.ChannelID)
	if old := srv.lookup(claims.SessionID); old != nil {
		// The same session identifying again (a client that could not
		// resume): start afresh.
		old.kick(voiceproto.CloseSessionInvalid, "session re-identified")
		srv.endSession(old)
	}
	media, err := srv.cfg.Media.Join(room, claims.UserID)
	if err != nil {
		srv.log.Warn("media join", "room", room, "user", claims.UserID, "err", err)
		return closeWith(voiceproto.CloseServerNotFound, "voice server cannot take this session")
	}
	applyModeration(media, mod) // before anything can be forwarded
	streams, err := allocateVideo(media, id.Streams)
	if err != nil {
		media.Leave()
		var ce *closeError
		if errors.As(err, &ce) {
			return err
		}
		srv.log.Warn("media video streams", "room", room, "user", claims.UserID, "err", err)
		return closeWith(voiceproto.CloseServerNotFound, "voice server cannot take this session's video")
	}
	ss := &session{
		srv: srv, id: claims.SessionID, user: claims.UserID, guild: claims.GuildID,
		channel: claims.ChannelID, room: room, dialect: c.dialect, media: media,
		daveMax: daveMax, video: sessionVideo{alloc: streams},
	}
	if replaced := srv.register(ss); replaced != nil {
		replaced.kick(voiceproto.CloseSessionInvalid, "replaced by a newer session")
		replaced.end()
		srv.daveLeave(replaced)
		// The room of the old session is told the user left; the same
		// room forgets what it was owed about the old session (the new
		// one introduces the user again).
		srv.announceLeave(replaced, replaced.room != room)
	}
	if err := srv.checkServing(); err != nil {
		// SetServing(false) ran after the first check and before
		// register: it did not see ss, so ss ends here.
		srv.endSession(ss)
		return err
	}
	c.sess = ss
	c.lastHeartbeat = srv.cfg.Now()
	connlimit.Admit(c.ws.UnderlyingConn())
	ss.attach(c, 0, false)
	ip, port := srv.cfg.Media.UDPEndpoint()
	ss.send(voiceproto.OpReady, voiceproto.Ready{
		SSRC: media.SSRC(), IP: ip, Port: port, Modes: srv.cfg.Media.Modes(),
		HeartbeatInterval: float64(srv.cfg.HeartbeatInterval.Milliseconds()),
		Experiments:       []string{}, Streams: streams,
	})
	srv.log.Info("voice identify", "user", ss.user, "guild", ss.guild, "channel", ss.channel,
		"session", ss.id, "ssrc", media.SSRC(), "dialect", c.dialect.String(), "remote", c.remote)
	c.introduce(ss)
	return nil
}

// introduce tells a new member who is in the room (op 11 and op 5 with each
// peer's SSRC) and tells the room about the new member, so every receiver
// can map SSRCs to users before audio arrives. Nothing is queued here: each
// receiver's writer produces what it is owed as it drains (announcements),
// so the joiner's introduction is paced by its own reading and the join
// costs every member O(1).
func (c *conn) introduce(ss *session) {
	for _, p := range c.srv.roomTargets(ss.room, ss) {
		what := pendConnect | pendSpeak
		if _, ok := p.videoOp12(); ok {
			what |= pendVideo // the joiner learns of every video sender
		}
		ss.announce(p, what)
		p.announce(ss, pendConnect|pendSpeak)
	}
	c.srv.tellSenders(ss.room) // a new receiver may want a paused layer
}

func authReason(err error) string {
	switch {
	case errors.Is(err, voicetoken.ErrExpired):
		return "token expired"
	case errors.Is(err, voicetoken.ErrMismatch):
		return "token not issued for this user, server or session"
	case errors.Is(err, voicetoken.ErrUnknownKey):
		return "token signed by an unknown key"
	case errors.Is(err, voicetoken.ErrRetiredKey):
		return "token signed by a retired key"
	}
	return "invalid token"
}

func (c *conn) resume(d json.RawMessage) error {
	if c.sess != nil {
		return closeWith(voiceproto.CloseAlreadyAuthenticated, "already identified")
	}
	var r voiceproto.Resume
	if err := json.Unmarshal(d, &r); err != nil {
		return closeWith(voiceproto.CloseDecodeError, "invalid resume payload: "+err.Error())
	}
	if r.ServerID == "" || r.SessionID == "" || r.Token == "" {
		return closeWith(voiceproto.CloseDecodeError, "resume needs server_id, session_id and token")
	}
	srv := c.srv
	if err := srv.checkServing(); err != nil {
		return err
	}
	ss := srv.lookup(string(r.SessionID))
	if ss == nil || ss.guild != string(r.ServerID) {
		return closeWith(voiceproto.CloseSessionInvalid, "unknown session")
	}
	// The token must be the one issued for this session; it may have
	// expired since identify.
	claims, err := srv.cfg.Tokens.Parse(r.Token, srv.cfg.Now())
	if err != nil && !errors.Is(err, voicetoken.ErrExpired) {
		return closeWith(voiceproto.CloseAuthenticationFailed, authReason(err))
	}
	if claims.SessionID != ss.id || claims.UserID != ss.user || claims.GuildID != ss.guild {
		return closeWith(voiceproto.CloseAuthenticationFailed, "token not issued for this session")
	}
	claims.ChannelID = ss.channel
	mod, err := srv.admit(claims)
	if err != nil {
		if errors.Is(err, voicectl.ErrRevoked) {
			srv.endSession(ss) // revoked: it does not wait for another resume
		}
		return err
	}
	applyModeration(ss.media, mod)
	c.sess = ss
	c.lastHeartbeat = srv.cfg.Now()
	connlimit.Admit(c.ws.UnderlyingConn())
	seqAck := int64(-1)
	if r.SeqAck != nil {
		seqAck = *r.SeqAck
	}
	if old := ss.attach(c, seqAck, c.dialect == voiceproto.DialectV8); old != nil {
		old.terminate(voiceproto.CloseSessionInvalid, "session resumed elsewhere")
	}
	ss.send(voiceproto.OpResumed, nil)
	srv.log.Info("voice resume", "user", ss.user, "session", ss.id, "seq_ack", seqAck)
	return nil
}

func (c *conn) heartbeat(d json.RawMessage) error {
	c.lastHeartbeat = c.srv.cfg.Now()
	var ack json.RawMessage = d
	if c.dialect == voiceproto.DialectV8 && len(d) > 0 && d[0] == '{' {
		var hb voiceproto.Heartbeat
		if err := json.Unmarshal(d, &hb); err != nil {
			return closeWith(voiceproto.CloseDecodeError, "invalid heartbeat payload")
		}
		b, _ := json.Marshal(voiceproto.HeartbeatACK{T: hb.T})
		ack = b
	}
	if len(ack) == 0 {
		ack = json.RawMessage("null")
	}
	if c.sess != nil {
		c.sess.send(voiceproto.OpHeartbeatACK, ack)
		return nil
	}
	b, _ := json.Marshal(voiceproto.Message{Op: voiceproto.OpHeartbeatACK, D: ack})
	c.enqueue(outFrame{data: b})
	return nil
}

func (c *conn) selectProtocol(d json.RawMessage) error {
	var sp voiceproto.SelectProtocol
	if err := json.Unmarshal(d, &sp); err != nil {
		return closeWith(voiceproto.CloseDecodeError, "invalid select protocol payload")
	}
	switch sp.Protocol {
	case voiceproto.ProtocolUDP:
	case voiceproto.ProtocolWebRTC:
		return c.selectWebRTC(sp)
	default:
		return closeWith(voiceproto.CloseUnknownProtocol, "unknown protocol "+strconv.Quote(sp.Protocol))
	}
	if !slices.Contains(c.srv.cfg.Media.Modes(), sp.Data.Mode) {
		return closeWith(voiceproto.CloseUnknownEncryption, "unknown encryption mode "+strconv.Quote(sp.Data.Mode))
	}
	key := make(voiceproto.SecretKey, voiceproto.KeySize)
	_, _ = rand.Read(key)
	ss := c.sess
	declared := net.JoinHostPort(sp.Data.Address, strconv.Itoa(sp.Data.Port))
	if err := ss.media.SetTransport(sp.Data.Mode, key, declared); err != nil {
		return closeWith(voiceproto.CloseUnknownEncryption, err.Error())
	}
	ss.mu.Lock()
	ss.mode = sp.Data.Mode
	ss.mu.Unlock()
	c.srv.daveJoin(ss, func(v uint16) {
		ss.send(voiceproto.OpSessionDescription, voiceproto.SessionDescription{Mode: sp.Data.Mode, SecretKey: key, DaveProtocolVersion: int(v)})
	})
	return nil
}

// selectWebRTC is Select Protocol in the browsers' dialect (webrtc.md §1):
// the offer fragment goes to the media plane as a string, the answer
// fragment comes back in Session Description, without mode or key.
func (c *conn) selectWebRTC(sp voiceproto.SelectProtocol) error {
	ss := c.sess
	answer, err := ss.media.SetWebRTCTransport(sp.Fragment(), sp.Codecs)
	switch {
	case errors.Is(err, voiceproto.ErrBadSDP), errors.Is(err, voiceproto.ErrNoCodec):
		return closeWith(voiceproto.CloseBadRequest, err.Error())
	case errors.Is(err, ErrWebRTCOff):
		return closeWith(voiceproto.CloseUnknownProtocol, "webrtc is not available on this voice server")
	case err != nil:
		c.srv.log.Warn("media webrtc transport", "room", ss.room, "user", ss.user, "err", err)
		return closeWith(voiceproto.CloseServerNotFound, "voice server cannot take this session")
	}
	ss.mu.Lock()
	ss.mode = voiceproto.ProtocolWebRTC
	ss.mu.Unlock()
	c.srv.daveJoin(ss, func(v uint16) {
		ss.send(voiceproto.OpSessionDescription, voiceproto.SessionDescription{
			AudioCodec: "opus", MediaSessionID: voicetoken.NewSessionID(), SDP: answer, DaveProtocolVersion: int(v)})
	})
	return nil
}

func (c *conn) speaking(d json.RawMessage) error {
	var sp voiceproto.Speaking
	if err := json.Unmarshal(d, &sp); err != nil {
		return closeWith(voiceproto.CloseDecodeError, "invalid speaking payload: "+err.Error())
	}
	ss := c.sess
	ss.setSpeaking(sp.Speaking)
	// Each peer is owed one op 5 with the flags current when its writer
	// gets to it: changes that land before then are coalesced.
	for _, p := range c.srv.roomTargets(ss.room, ss) {
		p.announce(ss, pendSpeak)
	}
	return nil
}

// enqueue queues an encoded message without blocking (callers may hold a
// session or room lock). A full queue means the client does not read fast
// enough: the connection ends with 4015 (resumable) rather than slowing
// anyone else down.
func (c *conn) enqueue(f outFrame) {
	select {
	case <-c.done:
	case c.out <- f:
	default:
		c.requestClose(voiceproto.CloseServerCrashed, "client too slow; resume")
	}
}

// enqueueBacklog queues frames to be written before anything in out (the
// messages a resume replays). It does not block.
func (c *conn) enqueueBacklog(fs []outFrame) {
	if len(fs) == 0 {
		return
	}
	c.mu.Lock()
	c.backlog = append(c.backlog, fs...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// requestClose ends the connection with code from a path that must not
// block: it records the code, tells the writer, and cuts short a write the
// writer may be blocked in (a client that does not read). The writer then
// closes the socket.
func (c *conn) requestClose(code voiceproto.CloseCode, reason string) {
	c.killOnce.Do(func() {
		c.mu.Lock()
		if c.closedBy == 0 {
			c.closedBy = code
		}
		c.killWhy = reason
		c.mu.Unlock()
		close(c.kill)
		_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Now())
	})
}

// writeLoop writes the backlog, queued frames and, when neither waits, the
// session's announcements one at a time, until the connection closes. It
// is the only writer of data frames. What it writes in a burst is held by
// the batchConn and written when it runs out of frames.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		select { // a requested close goes before any queued frame
		case <-c.kill:
			c.closeKilled()
			return
		default:
		}
		if c.batch != nil {
			c.batch.hold.Store(true)
		}
		if !c.writeBacklog() {
			return
		}
		select {
		case f := <-c.out:
			if !c.write(f) {
				return
			}
			continue
		default:
		}
		if ss := c.announcer.Load(); ss != nil {
			if f, ok := ss.nextAnnouncement(c); ok {
				if !c.write(f) {
					return
				}
				continue
			}
		}
		if c.batch != nil && c.batch.release() != nil {
			c.writeFailed()
			return
		}
		select {
		case <-c.done:
			return
		case <-c.kill:
			c.closeKilled()
			return
		case <-c.wake:
		case f := <-c.out:
			if !c.writeBacklog() || !c.write(f) {
				return
			}
		}
	}
}

// backlogged reports whether resume frames wait to be written.
func (c *conn) backlogged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.backlog) > 0
}

// closeKilled closes the socket with the code requestClose recorded.
func (c *conn) closeKilled() {
	c.mu.Lock()
	code := c.closedBy
	why := c.killWhy
	c.mu.Unlock()
	c.closeNow(code, why)
}

// writeBacklog writes and clears the backlog; false if the socket failed.
func (c *conn) writeBacklog() bool {
	c.mu.Lock()
	fs := c.backlog
	c.backlog = nil
	c.mu.Unlock()
	for _, f := range fs {
		if !c.write(f) {
			return false
		}
	}
	return true
}

// write sends one frame; on failure it closes the socket (with the close
// code requestClose recorded, if that is why the write was cut short). A
// close requested before the frame is honoured instead of writing it:
// gorilla arms each write with the deadline set here, so the frames of a
// backlog would otherwise go on being written, each with 10 s, after
// requestClose's immediate deadline. (A request that lands during a write
// cuts it short unless gorilla re-arms the deadline just after; then the
// 10 s bound it.)
func (c *conn) write(f outFrame) bool {
	select {
	case <-c.kill:
		c.closeKilled()
		return false
	default:
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	typ := websocket.TextMessage
	if f.binary {
		typ = websocket.BinaryMessage
	}
	if err := c.ws.WriteMessage(typ, f.data); err != nil {
		c.writeFailed()
		return false
	}
	return true
}

// writeFailed closes the socket after a failed write, with the close code
// requestClose recorded if that is why the write was cut short.
func (c *conn) writeFailed() {
	select {
	case <-c.kill:
		c.closeKilled()
	default:
		c.closeNow(0, "")
	}
}

// terminate records code as the reason the server ends the connection,
// sends a close frame with it (what is still queued is not flushed) and
// closes the socket.
func (c *conn) terminate(code voiceproto.CloseCode, reason string) {
	c.mu.Lock()
	if c.closedBy == 0 {
		c.closedBy = code
	}
	c.mu.Unlock()
	c.closeNow(code, reason)
}

// closeNow sends a close frame (if code != 0) and closes the socket once.
func (c *conn) closeNow(code voiceproto.CloseCode, reason string) {
	c.closeOnce.Do(func() {
		// Bound a write the writer may be blocked in (its batch's flush
		// holds the batchConn, which the close frame and Close wait for).
		_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Now().Add(2 * time.Second))
		if code != 0 {
			c.srv.metrics.closes.WithLabelValues(strconv.Itoa(int(code))).Inc()
			if len(reason) > 120 {
				reason = reason[:120]
			}
			msg := websocket.FormatCloseMessage(int(code), reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(2*time.Second))
		}
		close(c.done)
		_ = c.ws.Close()
	})
}

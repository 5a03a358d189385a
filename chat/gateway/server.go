package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/parleyhq/parley/chat/model"
)

// Stats are cumulative counters (read with Server.Stats).
type Stats struct {
	Connections int64 // open connections
	Sessions    int64 // live sessions (attached or resumable)
	Dispatches  int64 // dispatch enqueues (deliveries)
	Writes      int64 // socket writes (each coalesces frames)
	BytesOut    int64
	Dropped     int64 // connections closed for falling behind
}

type stats struct {
	dispatches, writes, bytesOut, dropped atomic.Int64
}

// Server is the gateway. Create with New, run with Serve, stop with Close.
type Server struct {
	cfg     Config
	poller  *poller
	flusher *flusher
	done    chan struct{}
	wg      sync.WaitGroup
	stats   stats
	closed  atomic.Bool

	mu sync.RWMutex
	// Guarded by mu:
	conns     map[*wsConn]struct{}
	sessions  map[string]*session
	byUser    map[model.Snowflake][]*session
	listeners []net.Listener
	// subs maps a guild to its subscribed sessions: a copy-on-write slice
	// (the map is guarded by mu, the slices are immutable once stored).
	subs map[model.Snowflake]*atomic.Pointer[[]*session]

	idMu sync.Mutex
	// identifies per user in the current window; guarded by idMu.
	identifies map[model.Snowflake]*window
}

type window struct {
	start time.Time
	n     int
}

// New validates cfg and returns a server with its poller running.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, poller: p, done: make(chan struct{}),
		conns: map[*wsConn]struct{}{}, sessions: map[string]*session{},
		byUser: map[model.Snowflake][]*session{}, subs: map[model.Snowflake]*atomic.Pointer[[]*session]{},
		identifies: map[model.Snowflake]*window{},
	}
	s.flusher = newFlusher(max(4, 2*runtime.GOMAXPROCS(0)))
	s.wg.Add(2)
	go func() { defer s.wg.Done(); p.run(s.readable) }()
	go func() { defer s.wg.Done(); s.sweep() }()
	return s, nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.RLock()
	st := Stats{Connections: int64(len(s.conns)), Sessions: int64(len(s.sessions))}
	s.mu.RUnlock()
	st.Dispatches, st.Writes = s.stats.dispatches.Load(), s.stats.writes.Load()
	st.BytesOut, st.Dropped = s.stats.bytesOut.Load(), s.stats.dropped.Load()
	return st
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		go s.upgrade(nc)
	}
}

// Close sends op 7 Reconnect to every connection, closes them and stops.
func (s *Server) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	reconnect := controlFrame(OpReconnect, nil)
	for _, c := range conns {
		c.queue(reconnect)
		c.closeWith(CloseUnknownError, false)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && s.Stats().Connections > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range conns {
		s.drop(c, ErrClosed)
	}
	close(s.done)
	s.flusher.close()
	s.poller.close()
	s.wg.Wait()
	s.poller.release()
	return nil
}

// params are the gateway URL's query parameters.
type params struct {
	version  string
	encoding string
	compress string
}

func (s *Server) upgrade(nc net.Conn) {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	var p params
	u := ws.Upgrader{
		OnRequest: func(uri []byte) error {
			if pu, err := url.ParseRequestURI(string(uri)); err == nil {
				q := pu.Query()
				p.version, p.encoding, p.compress = q.Get("v"), q.Get("encoding"), q.Get("compress")
			}
			return nil
		},
	}
	if _, err := u.Upgrade(nc); err != nil {
		s.cfg.Log.Debug("gateway upgrade", "err", err, "remote", nc.RemoteAddr().String())
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(time.Time{})
	// compress=zlib-stream is served as stateless per-message deflate
	// (compressFrames); other values (zstd-stream) are ignored and text is
	// sent, which every client we know parses (chat-gateway.md §4).
	now := time.Now().UnixNano()
	c := &wsConn{srv: s, nc: nc, created: now, compress: p.compress == "zlib-stream"}
	c.lastRecv.Store(now)
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	switch {
	case p.version != "" && p.version != "10" && p.version != "9":
		c.closeWith(CloseInvalidAPIVersion, false)
		return
	case p.encoding != "" && p.encoding != "json":
		c.closeWith(CloseDecodeError, false)
		return
	}
	c.queue(controlFrame(OpHello, map[string]int64{"heartbeat_interval": s.cfg.HeartbeatInterval.Milliseconds()}))
	if err := s.poller.add(c); err != nil {
		s.cfg.Log.Warn("gateway poll", "err", err)
		s.drop(c, err)
	}
}

// readable reads one frame from a connection the poller saw readable.
func (s *Server) readable(c *wsConn) {
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
		err = s.frame(c, h, payload)
	}
	*bp = buf[:0]
	bufPool.Put(bp)
	c.reading.Store(false)
	switch {
	case err == nil, errors.Is(err, errIdle):
		if !c.dead.Load() {
			if err := s.poller.rearm(c); err != nil && !c.dead.Load() {
				s.drop(c, err)
			}
		}
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ws.ErrProtocolMaskRequired):
		c.closeWith(CloseDecodeError, false)
	default:
		s.drop(c, err)
	}
}

// frame handles one WebSocket frame.
func (s *Server) frame(c *wsConn, h ws.Header, p []byte) error {
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
		c.mu.Lock()
		c.closing, c.endSession = true, end
		c.mu.Unlock()
		echo := ws.NewCloseFrameBody(code, "")
		if code == ws.StatusNoStatusRcvd {
			echo = nil
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(append(appendFrameHeader(nil, ws.OpClose, len(echo)), echo...))
		s.drop(c, nil)
		return nil
	case ws.OpText:
		if !h.Fin {
			c.closeWith(CloseDecodeError, false)
			return nil
		}
		s.handle(c, p)
		return nil
	default: // binary (etf, compressed) and fragmented frames are not supported
		c.closeWith(CloseDecodeError, false)
		return nil
	}
}

// drop closes a connection without a close frame; idempotent.
func (s *Server) drop(c *wsConn, err error) {
	if c.dead.Swap(true) {
		return
	}
	s.poller.remove(c)
	_ = c.nc.Close()
	c.mu.Lock()
	sess, end := c.sess, c.endSession
	c.ctrl = nil
	c.mu.Unlock()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) {
		s.cfg.Log.Debug("gateway conn closed", "err", err)
	}
	if sess != nil {
		sess.detach(c, time.Now())
		if end {
			s.endSession(sess)
		}
	}
}

// sweep closes connections that never identify or stop heartbeating and
// ends sessions whose resume window passed.
func (s *Server) sweep() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := time.Now()
		silent := (s.cfg.HeartbeatInterval + s.cfg.HeartbeatGrace).Nanoseconds()
		var idle, unidentified []*wsConn
		var expired []*session
		s.mu.RLock()
		for c := range s.conns {
			if now.UnixNano()-c.lastRecv.Load() > silent {
				idle = append(idle, c)
			} else if c.session() == nil && now.UnixNano()-c.created > s.cfg.IdentifyTimeout.Nanoseconds() {
				unidentified = append(unidentified, c)
			}
		}
		for _, ss := range s.sessions {
			if ss.expired(now, s.cfg.ResumeWindow) {
				expired = append(expired, ss)
			}
		}
		s.mu.RUnlock()
		for _, c := range idle {
			c.closeWith(CloseSessionTimedOut, true)
		}
		for _, c := range unidentified {
			c.closeWith(CloseNotAuthenticated, false)
		}
		for _, ss := range expired {
			s.endSession(ss)
		}
		s.idMu.Lock()
		for u, w := range s.identifies {
			if now.Sub(w.start) > s.cfg.IdentifyWindow {
				delete(s.identifies, u)
			}
		}
		s.idMu.Unlock()
	}
}

// ---- sessions and subscriptions ----

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// register adds a session and subscribes it to guilds.
func (s *Server) register(ss *session, guilds []model.Snowflake) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[ss.id] = ss
	s.byUser[ss.user.ID] = append(s.byUser[ss.user.ID], ss)
	for _, g := range guilds {
		s.subscribeLocked(ss, g)
	}
}

func (s *Server) subscribeLocked(ss *session, g model.Snowflake) {
	p := s.subs[g]
	if p == nil {
		p = &atomic.Pointer[[]*session]{}
		s.subs[g] = p
	}
	var cur []*session
	if v := p.Load(); v != nil {
		cur = *v
	}
	next := make([]*session, len(cur), len(cur)+1)
	copy(next, cur)
	next = append(next, ss)
	p.Store(&next)
	ss.mu.Lock()
	ss.guilds = append(ss.guilds, g)
	ss.mu.Unlock()
}

func (s *Server) unsubscribeLocked(ss *session, g model.Snowflake) {
	if p := s.subs[g]; p != nil {
		if v := p.Load(); v != nil {
			next := make([]*session, 0, len(*v))
			for _, x := range *v {
				if x != ss {
					next = append(next, x)
				}
			}
			if len(next) == 0 {
				delete(s.subs, g)
			} else {
				p.Store(&next)
			}
		}
	}
	ss.mu.Lock()
	for i, x := range ss.guilds {
		if x == g {
			ss.guilds = append(ss.guilds[:i], ss.guilds[i+1:]...)
			break
		}
	}
	ss.mu.Unlock()
}

// endSession removes a session for good and tells the backend.
func (s *Server) endSession(ss *session) {
	if !ss.end() {
		return
	}
	s.mu.Lock()
	delete(s.sessions, ss.id)
	list := s.byUser[ss.user.ID]
	for i, x := range list {
		if x == ss {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byUser, ss.user.ID)
	} else {
		s.byUser[ss.user.ID] = list
	}
	ss.mu.Lock()
	guilds := append([]model.Snowflake(nil), ss.guilds...)
	ss.mu.Unlock()
	for _, g := range guilds {
		s.unsubscribeLocked(ss, g)
	}
	s.mu.Unlock()
	s.cfg.Backend.SessionEnded(ss.ref())
}

// ---- dispatch ----

// Dispatch sends ev to every session subscribed to ev.GuildID that has the
// event's intent. It never blocks on a socket.
func (s *Server) Dispatch(ev *Event) {
	s.mu.RLock()
	p := s.subs[ev.GuildID]
	s.mu.RUnlock()
	if p == nil {
		return
	}
	v := p.Load()
	if v == nil {
		return
	}
	n := 0
	wake := make([]*wsConn, 0, min(len(*v), 1024))
	for _, ss := range *v {
		if !ss.wants(ev) {
			continue
		}
		n++
		c, ok := ss.push(ev)
		switch {
		case c == nil:
		case !ok:
			s.stats.dropped.Add(1)
			c.closeWith(CloseUnknownError, false)
		case c.mark():
			wake = append(wake, c)
			if len(wake) == cap(wake) {
				s.flusher.pushAll(wake)
				wake = wake[:0]
			}
		}
	}
	s.flusher.pushAll(wake)
	s.stats.dispatches.Add(int64(n))
}

// DispatchUser sends ev to every session of a user (no intent check
// beyond ev.Intent).
func (s *Server) DispatchUser(user model.Snowflake, ev *Event) {
	s.mu.RLock()
	list := append([]*session(nil), s.byUser[user]...)
	s.mu.RUnlock()
	for _, ss := range list {
		if ss.wants(ev) {
			ss.enqueue(ev)
			s.stats.dispatches.Add(1)
		}
	}
}

// DispatchSession sends ev to one session; false if it does not exist.
func (s *Server) DispatchSession(id string, ev *Event) bool {
	s.mu.RLock()
	ss := s.sessions[id]
	s.mu.RUnlock()
	if ss == nil {
		return false
	}
	ss.enqueue(ev)
	s.stats.dispatches.Add(1)
	return true
}

// JoinGuild subscribes a user's sessions to a guild and sends them its
// GUILD_CREATE (a member was added).
func (s *Server) JoinGuild(user, guild model.Snowflake, guildCreate []byte) {
	s.mu.Lock()
	var list []*session
	for _, ss := range s.byUser[user] {
		if ss.inShard(guild) {
			list = append(list, ss)
			s.subscribeLocked(ss, guild)
		}
	}
	s.mu.Unlock()
	ev := &Event{Name: "GUILD_CREATE", GuildID: guild, Data: guildCreate, replay: true}
	for _, ss := range list {
		ss.enqueue(ev)
	}
}

// LeaveGuild unsubscribes a user's sessions and sends GUILD_DELETE.
func (s *Server) LeaveGuild(user, guild model.Snowflake) {
	s.mu.Lock()
	list := append([]*session(nil), s.byUser[user]...)
	for _, ss := range list {
		s.unsubscribeLocked(ss, guild)
	}
	s.mu.Unlock()
	ev, _ := NewEvent("GUILD_DELETE", guild, 0, map[string]any{"id": guild, "unavailable": false})
	for _, ss := range list {
		ss.enqueue(ev)
	}
}

// SessionUser returns the user of a live session.
func (s *Server) SessionUser(id string) (model.Snowflake, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.sessions[id]
	if ss == nil {
		return 0, false
	}
	return ss.user.ID, true
}

func (s *Server) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

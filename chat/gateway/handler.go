package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/parleyhq/parley/chat/model"
	"github.com/parleyhq/parley/internal/connlimit"
)

// countFrame applies Config.EventsPerMinute (a fixed 60 s window per
// connection) to one client frame; over the limit it closes with 4008 and
// reports false. Only the connection's reader calls it.
func (s *Server) countFrame(c *wsConn) bool {
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	if now-c.winStart > int64(time.Minute) {
		c.winStart, c.winCount = now, 0
	}
	c.winCount++
	if c.winCount > s.cfg.EventsPerMinute {
		c.closeWith(CloseRateLimited, false)
		return false
	}
	return true
}

// handle processes one client payload (counted by frame).
func (s *Server) handle(ctx context.Context, c *wsConn, data []byte) {
	p, err := DecodePayload(data)
	if err != nil {
		c.closeWith(CloseDecodeError, false)
		return
	}
	sess := c.session()
	switch p.Op {
	case OpHeartbeat:
		s.heartbeat(c, sess, p.D)
	case OpIdentify:
		if sess != nil {
			c.closeWith(CloseAlreadyAuthenticated, false)
			return
		}
		s.identify(ctx, c, p.D)
	case OpResume:
		if sess != nil {
			c.closeWith(CloseAlreadyAuthenticated, false)
			return
		}
		s.resume(ctx, c, p.D)
	case OpPresenceUpdate, OpVoiceStateUpdate, OpRequestGuildMembers:
		if sess == nil {
			c.closeWith(CloseNotAuthenticated, false)
			return
		}
		s.sessionOp(ctx, c, sess, p)
	default:
		c.closeWith(CloseUnknownOpcode, false)
	}
}

func (s *Server) heartbeat(c *wsConn, sess *session, d json.RawMessage) {
	if len(d) > 0 && string(d) != "null" {
		n, err := strconv.ParseInt(string(d), 10, 64)
		if err != nil {
			c.closeWith(CloseDecodeError, false)
			return
		}
		if sess != nil {
			sess.ack(n)
		}
	}
	c.queue(heartbeatACK)
}

var heartbeatACK = controlFrame(OpHeartbeatACK, nil)

// identifyAllowed applies max_concurrency per IdentifyWindow per user.
func (s *Server) identifyAllowed(user model.Snowflake, now time.Time) bool {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	w := s.identifies[user]
	if w == nil || now.Sub(w.start) > s.cfg.IdentifyWindow {
		s.identifies[user] = &window{start: now, n: 1}
		return true
	}
	w.n++
	return w.n <= s.cfg.IdentifyBurst
}

func (s *Server) identify(ctx context.Context, c *wsConn, d json.RawMessage) {
	var id Identify
	if err := json.Unmarshal(d, &id); err != nil {
		c.closeWith(CloseDecodeError, false)
		return
	}
	if id.Token == "" {
		c.closeWith(CloseAuthenticationFailed, false)
		return
	}
	if id.Intents == nil {
		c.closeWith(CloseInvalidIntents, false)
		return
	}
	iv, err := strconv.ParseUint(id.Intents.String(), 10, 64)
	if err != nil || model.Intent(iv)&^model.IntentsAll != 0 {
		c.closeWith(CloseInvalidIntents, false)
		return
	}
	intents := model.Intent(iv)
	if intents&model.IntentsPrivileged&^*s.cfg.AllowedPrivileged != 0 {
		c.closeWith(CloseDisallowedIntents, false)
		return
	}
	shard := [2]int{0, 1}
	switch len(id.Shard) {
	case 0:
	case 2:
		shard = [2]int{id.Shard[0], id.Shard[1]}
		if shard[1] < 1 || shard[1] > s.cfg.MaxShards || shard[0] < 0 || shard[0] >= shard[1] {
			c.closeWith(CloseInvalidShard, false)
			return
		}
	default:
		c.closeWith(CloseInvalidShard, false)
		return
	}
	actx, cancel := callCtx(ctx)
	auth, err := s.cfg.Backend.Authenticate(actx, id.Token)
	cancel()
	if errors.Is(err, model.ErrUnauthorized) {
		c.closeWith(CloseAuthenticationFailed, false)
		return
	} else if err != nil {
		s.cfg.Logger.Warn("gateway identify", "err", err)
		c.closeWith(CloseUnknownError, false)
		return
	}
	user := auth.User
	if !s.identifyAllowed(user.ID, time.Now()) {
		c.queue(controlFrame(OpInvalidSession, false))
		return
	}
	ss := &session{id: newSessionID(), user: user, intents: intents, shard: shard, limit: s.cfg.ReplayLimit, limitBytes: s.cfg.ReplayBytes,
		token: auth.Token, checkAt: s.nextCheck(time.Now(), auth.Expires)}
	var guilds []model.Snowflake
	for _, g := range s.cfg.Backend.GuildsOf(user.ID) {
		if ss.inShard(g) {
			guilds = append(guilds, g)
		}
	}
	unavailable := make([]map[string]any, len(guilds))
	for i, g := range guilds {
		unavailable[i] = map[string]any{"id": g, "unavailable": true}
	}
	// The session counts as online before its GUILD_CREATEs are encoded,
	// so they list its own presence. From here on identify cannot fail
	// before register: SessionEnded will balance this call.
	var presence model.PresenceUpdate
	_ = json.Unmarshal(id.Presence, &presence) // a bad presence is no presence
	actx, cancel = callCtx(ctx)
	s.cfg.Backend.SessionStarted(actx, ss.ref(), presence)
	readState, err := s.cfg.Backend.ReadState(actx, user.ID)
	cancel()
	if err != nil {
		s.cfg.Logger.Warn("gateway read_state", "user", user.ID, "err", err)
		readState = json.RawMessage(`{"version":0,"partial":true,"entries":[]}`)
	}
	ready := map[string]any{
		"v": 10, "user": user, "guilds": unavailable, "session_id": ss.id,
		"session_type": "normal", "resume_gateway_url": cmp.Or(c.resumeURL, s.cfg.ResumeURL),
		"application":      map[string]any{"id": user.ID, "flags": 0},
		"private_channels": []any{}, "relationships": []any{}, "presences": []any{},
		"guild_join_requests": []any{}, "geo_ordered_rtc_regions": []string{"local"},
		"user_settings": map[string]any{}, "read_state": readState, "shard": shard, "_trace": []string{"parley"},
	}
	rb, _ := json.Marshal(ready)
	ss.enqueueOnce(&model.Event{Name: "READY", Data: rb})
	for _, g := range guilds {
		gc, err := s.cfg.Backend.GuildCreate(g, intents)
		if err != nil {
			s.cfg.Logger.Warn("gateway guild_create", "guild", g, "err", err)
			continue
		}
		ss.enqueueOnce(&model.Event{Name: "GUILD_CREATE", GuildID: g, Data: gc})
	}
	ss.mu.Lock()
	ss.conn = c
	ss.mu.Unlock()
	s.register(ss, guilds)
	if !s.bindConn(c, ss) {
		return // dropped while identify ran: detached, resumable for a while
	}
	connlimit.Admit(c.nc) // no longer pending (Config.Conns)
	c.kick()
}

// bindConn makes ss the session of c, which ss.conn already names. drop
// marks c dead before it reads c.sess, both under c.mu here, so either
// drop sees ss and detaches it, or c was dead already and bindConn
// detaches it as drop would have (ending it if the close ended sessions):
// a session is never left attached to a dead connection, which the
// sweeper would never expire (the user online forever, their voice state
// kept). ss must be registered first, so that an endSession here or in
// drop removes it for good. It reports whether c is still alive.
func (s *Server) bindConn(c *wsConn, ss *session) bool {
	c.mu.Lock()
	c.sess = ss
	dead, end := c.dead.Load(), c.endSession
	c.mu.Unlock()
	if !dead {
		return true
	}
	ss.detach(c, time.Now())
	if end {
		s.endSession(ss)
	}
	return false
}

func (s *Server) resume(ctx context.Context, c *wsConn, d json.RawMessage) {
	var r Resume
	if err := json.Unmarshal(d, &r); err != nil {
		c.closeWith(CloseDecodeError, false)
		return
	}
	actx, cancel := callCtx(ctx)
	auth, err := s.cfg.Backend.Authenticate(actx, r.Token)
	cancel()
	if errors.Is(err, model.ErrUnauthorized) {
		c.closeWith(CloseAuthenticationFailed, false)
		return
	} else if err != nil {
		c.closeWith(CloseUnknownError, false)
		return
	}
	s.mu.RLock()
	ss := s.sessions[r.SessionID]
	s.mu.RUnlock()
	if ss == nil || ss.user.ID != auth.User.ID {
		c.queue(controlFrame(OpInvalidSession, false))
		return
	}
	old, code, ok := ss.attach(c, r.Seq)
	if !ok {
		if code != 0 {
			c.closeWith(code, false)
		} else {
			c.queue(controlFrame(OpInvalidSession, false))
		}
		return
	}
	if old != nil && old != c {
		old.mu.Lock()
		old.sess = nil
		old.mu.Unlock()
		old.closeWith(CloseUnknownError, false)
	}
	ss.setAuth(auth, s.nextCheck(time.Now(), auth.Expires))
	if !s.bindConn(c, ss) {
		return
	}
	connlimit.Admit(c.nc)
	ss.enqueueOnce(&model.Event{Name: "RESUMED", Data: []byte(`{"_trace":["parley"]}`)})
}

func (s *Server) sessionOp(ctx context.Context, c *wsConn, sess *session, p Payload) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	switch p.Op {
	case OpPresenceUpdate:
		var req model.PresenceUpdate
		err := json.Unmarshal(p.D, &req)
		if err == nil {
			err = s.cfg.Backend.PresenceUpdate(ctx, sess.ref(), req)
		}
		if err != nil {
			s.cfg.Logger.Debug("gateway presence", "err", err)
		}
	case OpVoiceStateUpdate:
		var req model.VoiceStateRequest
		if err := json.Unmarshal(p.D, &req); err != nil || req.GuildID == 0 {
			c.closeWith(CloseDecodeError, false)
			return
		}
		if err := s.cfg.Backend.VoiceStateUpdate(ctx, sess.ref(), req); err != nil {
			s.cfg.Logger.Info("gateway voice state", "user", sess.user.ID, "err", err)
		}
	case OpRequestGuildMembers:
		var req model.RequestGuildMembers
		if err := json.Unmarshal(p.D, &req); err != nil || req.GuildID == 0 {
			c.closeWith(CloseDecodeError, false)
			return
		}
		b, err := s.cfg.Backend.GuildMembersChunk(ctx, sess.ref(), req)
		if err != nil {
			s.cfg.Logger.Debug("gateway members", "err", err)
			return
		}
		sess.enqueue(&model.Event{Name: "GUILD_MEMBERS_CHUNK", GuildID: req.GuildID, Data: b})
	}
}

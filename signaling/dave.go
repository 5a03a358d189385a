package signaling

import (
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/voiceproto"
)

// daveRoom coordinates DAVE (shared/docs/dave.md) for one voice room: it
// owns the room's dave.ServerSession, routes its Sends to the sessions by
// user id, drives its transition timeouts from one timer, and keeps the
// SFU's enforcement (Participant.SetRoomDAVE, SetDAVECapable) in step with
// the protocol so that no receiver stops hearing anyone across a
// transition:
//
//   - Room enforcement (only DAVE frames and Opus silence are forwarded) is
//     on while the room is at protocol version 1 with an established group,
//     except while the group is being created (first members, sole-member
//     reset, upgrade): until its first commit transition executes, members
//     still send transport-only Opus.
//   - A receiver is DAVE-capable (gets DAVE frames) once it has processed a
//     commit or Welcome: from its op 23 for that transition, or the op 22
//     that executes it. op 24 epoch 1 (re-creation) and op 31 (the client
//     reset its group) clear it, as does a non-DAVE client. A receiver
//     without keys gets no DAVE frames, which it could only drop or, as
//     @discordjs/voice does before its session is ready, play as noise.
//
// Lock order: Server.daveMu, then daveRoom.mu, then session.mu.
type daveRoom struct {
	srv *Server
	key string

	mu sync.Mutex // guards all following fields, and the dave* fields of the sessions in members
	ss *dave.ServerSession
	// members maps ServerSession user ids to sessions that selected a
	// protocol (op 1) and so received op 4.
	members map[uint64]*session
	// nextSynthetic numbers users whose ids are not decimal uint64s: they
	// cannot do DAVE but still count as members (and downgrade the room).
	nextSynthetic uint64
	// commits lists, per live commit transition, the users that must
	// process its op 29 or op 30.
	commits map[uint16][]uint64
	// creating: the room is at version 1 but its group's first commit
	// has not executed yet.
	creating bool
	timer    *time.Timer
	closed   bool
}

// daveSession is a session's DAVE state, guarded by its room's mu.
type daveSession struct {
	joined  bool   // in its room's ServerSession
	id      uint64 // ServerSession user id
	version uint16 // what op 4 said
	capable bool   // last SetDAVECapable
}

// numericID reports whether s is a decimal uint64 (a DAVE user or channel
// id; dave.md §1).
func numericID(s string) (uint64, bool) {
	if s == "" || s[0] == '+' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// daveMaxFor is the DAVE version a client identifying with offered can
// use: 1 only with the policy on, the v8 dialect (binary frames carry its
// sequence numbers) and numeric user and channel ids.
func (s *Server) daveMaxFor(offered int, d voiceproto.Dialect, user, channel string) uint16 {
	if s.cfg.DAVE == DAVEOff || offered < 1 || d != voiceproto.DialectV8 {
		return 0
	}
	if _, ok := numericID(user); !ok {
		return 0
	}
	if _, ok := numericID(channel); !ok {
		return 0
	}
	return 1
}

// lockRoom returns the DAVE room of ss, created on first use, locked.
func (s *Server) lockRoom(ss *session) *daveRoom {
	for {
		s.daveMu.Lock()
		r := s.daveRooms[ss.room]
		if r == nil {
			r = s.newDAVERoom(ss.room, ss.channel)
			s.daveRooms[ss.room] = r
		}
		s.daveMu.Unlock()
		r.mu.Lock()
		if !r.closed {
			return r
		}
		r.mu.Unlock()
	}
}

func (s *Server) newDAVERoom(key, channel string) *daveRoom {
	cfg := dave.ServerSessionConfig{TransitionTimeout: s.cfg.DAVETransitionTimeout}
	if ch, ok := numericID(channel); ok && s.cfg.DAVE != DAVEOff {
		cfg.ChannelID, cfg.Sender, cfg.MaxProtocolVersion = ch, s.daveSender, 1
	}
	ss, err := dave.NewServerSession(cfg)
	if err != nil { // cannot happen with a valid sender; fall back to no DAVE
		s.log.Error("dave session", "room", key, "err", err)
		ss, _ = dave.NewServerSession(dave.ServerSessionConfig{})
	}
	return &daveRoom{srv: s, key: key, ss: ss, members: map[uint64]*session{},
		nextSynthetic: math.MaxUint64, commits: map[uint16][]uint64{}}
}

// daveJoin adds ss to its room's DAVE session when it selects a protocol:
// sendOp4 sends op 4 with the negotiated dave_protocol_version, before the
// DAVE messages that follow it (op 25 to a DAVE member, op 21 to the others
// when ss downgrades the room).
func (s *Server) daveJoin(ss *session, sendOp4 func(version uint16)) {
	r := s.lockRoom(ss)
	defer r.mu.Unlock()
	if ss.dave.joined {
		sendOp4(ss.dave.version)
		return
	}
	id, ok := numericID(ss.user)
	if !ok {
		id = r.synthetic()
	}
	now := s.cfg.Now()
	before := r.ss.ProtocolVersion()
	v, sends := r.ss.Join(now, id, ss.daveMax)
	if old := r.members[id]; old != nil && old != ss {
		old.dave.joined = false // the same user's previous session
	}
	r.members[id] = ss
	ss.dave = daveSession{joined: true, id: id, version: v}
	ss.media.SetDAVECapable(false)
	sendOp4(v)
	s.log.Debug("dave join", "room", r.key, "user", ss.user, "offered", ss.daveMax, "version", v)
	r.afterLocked(now, before, sends)
}

// synthetic returns an id for a member without a numeric user id, counting
// down from 2^64-1 (far above any snowflake).
func (r *daveRoom) synthetic() uint64 {
	for {
		id := r.nextSynthetic
		r.nextSynthetic--
		if r.members[id] == nil {
			return id
		}
	}
}

// daveLeave removes ss from its room's DAVE session (disconnect or
// replacement).
func (s *Server) daveLeave(ss *session) {
	s.daveMu.Lock()
	r := s.daveRooms[ss.room]
	s.daveMu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.closed || !ss.dave.joined || r.members[ss.dave.id] != ss {
		r.mu.Unlock()
		return
	}
	ss.dave.joined = false
	delete(r.members, ss.dave.id)
	for id, users := range r.commits {
		r.commits[id] = without(users, ss.dave.id)
	}
	now := s.cfg.Now()
	before := r.ss.ProtocolVersion()
	sends := r.ss.Leave(now, ss.dave.id)
	r.afterLocked(now, before, sends)
	empty := len(r.members) == 0
	r.mu.Unlock()
	if empty {
		s.daveMu.Lock()
		r.mu.Lock()
		if len(r.members) == 0 && !r.closed {
			r.closed = true
			if r.timer != nil {
				r.timer.Stop()
			}
			if s.daveRooms[r.key] == r {
				delete(s.daveRooms, r.key)
			}
		}
		r.mu.Unlock()
		s.daveMu.Unlock()
	}
}

// daveHandle passes a client's DAVE message (op 23, 26, 28 or 31) to its
// room. Invalid input from one client closes that client (4020) and
// changes nothing for the others; a commit that loses the race or arrives
// for another epoch is dropped (dave.md §5: the first valid commit wins).
func (s *Server) daveHandle(ss *session, msg dave.Message) error {
	if ss.daveMax == 0 {
		return closeWith(voiceproto.CloseBadRequest, "DAVE opcode "+strconv.Itoa(int(msg.Opcode()))+" without DAVE negotiated")
	}
	r := s.lockRoom(ss)
	defer r.mu.Unlock()
	if !ss.dave.joined || r.members[ss.dave.id] != ss {
		return closeWith(voiceproto.CloseBadRequest, "DAVE opcode before select protocol")
	}
	id := ss.dave.id
	switch m := msg.(type) {
	case dave.ReadyForTransition:
		if r.pending(m.TransitionID, id) {
			r.setCapable(ss, true)
		}
	case dave.InvalidCommitWelcome:
		r.setCapable(ss, false)
		for tid, users := range r.commits {
			r.commits[tid] = without(users, id)
		}
		s.metrics.dave.WithLabelValues("invalid_commit_welcome").Inc()
		s.log.Info("dave: client could not process a commit or welcome", "room", r.key, "user", ss.user, "transition_id", m.TransitionID)
	}
	now := s.cfg.Now()
	before := r.ss.ProtocolVersion()
	sends, err := r.ss.Handle(now, id, msg)
	r.afterLocked(now, before, sends)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dave.ErrCommit):
		s.metrics.dave.WithLabelValues("commit_rejected").Inc()
		s.log.Debug("dave: commit dropped", "room", r.key, "user", ss.user, "err", err)
		return nil
	case errors.Is(err, dave.ErrInactive), errors.Is(err, dave.ErrNotMember):
		// A key package or commit overtaken by a downgrade: harmless.
		s.metrics.dave.WithLabelValues("inactive").Inc()
		s.log.Debug("dave: message while inactive", "room", r.key, "user", ss.user, "op", msg.Opcode().String(), "err", err)
		return nil
	case errors.Is(err, dave.ErrKeyPackage):
		s.metrics.dave.WithLabelValues("bad_key_package").Inc()
		return closeWith(voiceproto.CloseBadRequest, "invalid DAVE key package")
	}
	s.metrics.dave.WithLabelValues("bad_message").Inc()
	return closeWith(voiceproto.CloseBadRequest, "invalid DAVE message: "+err.Error())
}

// pending reports whether user must process commit transition id.
func (r *daveRoom) pending(id uint16, user uint64) bool {
	for _, u := range r.commits[id] {
		if u == user {
			return true
		}
	}
	return false
}

// afterLocked delivers sends, updates the SFU flags and re-arms the
// transition timer. before is the protocol version before the input.
func (r *daveRoom) afterLocked(now time.Time, before uint16, sends []dave.Send) {
	after := r.ss.ProtocolVersion()
	switch {
	case len(r.members) == 0 || after == 0:
		r.creating = false
	case r.ss.Epoch() == 0:
		r.creating = true // no group yet (first members, reset, upgrade)
	}
	r.deliver(sends)
	on := after == 1 && !r.creating && r.ss.Epoch() > 0
	for _, m := range r.members {
		m.media.SetRoomDAVE(on)
	}
	r.armLocked(now)
}

// deliver sends each message to its user's session, in order, and tracks
// the transitions that change what the SFU may forward to whom.
func (r *daveRoom) deliver(sends []dave.Send) {
	for _, sd := range sends {
		to := r.members[sd.User]
		switch m := sd.Msg.(type) {
		case dave.PrepareEpoch:
			if m.Epoch == 1 && to != nil {
				r.setCapable(to, false) // its group is re-created
			}
		case dave.AnnounceCommitTransition:
			r.commits[m.TransitionID] = append(r.commits[m.TransitionID], sd.User)
		case dave.WelcomeMessage:
			r.commits[m.TransitionID] = append(r.commits[m.TransitionID], sd.User)
		case dave.ExecuteTransition:
			if users, ok := r.commits[m.TransitionID]; ok {
				delete(r.commits, m.TransitionID)
				for _, u := range users {
					if s := r.members[u]; s != nil {
						r.setCapable(s, true)
					}
				}
				if r.ss.ProtocolVersion() == 1 {
					r.creating = false
				}
			}
		}
		if to == nil {
			r.srv.metrics.dave.WithLabelValues("no_session").Inc()
			continue
		}
		if bm, ok := sd.Msg.(dave.BinaryMessage); ok {
			to.sendBinary(bm)
		} else {
			to.send(voiceproto.Op(sd.Msg.Opcode()), sd.Msg)
		}
	}
}

func (r *daveRoom) setCapable(ss *session, on bool) {
	if ss.daveMax == 0 {
		on = false
	}
	ss.dave.capable = on
	ss.media.SetDAVECapable(on)
}

// armLocked schedules Tick for the session's next transition deadline.
func (r *daveRoom) armLocked(now time.Time) {
	d, ok := r.ss.NextDeadline()
	if !ok {
		if r.timer != nil {
			r.timer.Stop()
		}
		return
	}
	wait := max(d.Sub(now), 0)
	if r.timer == nil {
		r.timer = time.AfterFunc(wait, r.tick)
		return
	}
	r.timer.Reset(wait)
}

// tick executes a transition whose op 23 wait timed out.
func (r *daveRoom) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	now := r.srv.cfg.Now()
	before := r.ss.ProtocolVersion()
	sends := r.ss.Tick(now)
	if len(sends) > 0 {
		r.srv.metrics.dave.WithLabelValues("transition_timeout").Inc()
	}
	r.afterLocked(now, before, sends)
}

// stop ends the room's timer (server shutdown).
func (r *daveRoom) stop() {
	r.mu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
}

// DAVERoomState is a snapshot of one room's DAVE state (Server.DAVEState).
type DAVERoomState struct {
	// ProtocolVersion is what a DAVE client joining now gets in op 4.
	ProtocolVersion uint16
	// Epoch is the MLS epoch of the room's group; Established is false
	// before its first commit.
	Epoch       uint64
	Established bool
	// Users are the room's members; GroupUsers those holding a leaf, in
	// leaf order.
	Users, GroupUsers []uint64
	// Proposals counts proposals awaiting a commit.
	Proposals int
	// Transition reports a transition awaiting op 23; Creating a group
	// whose first commit has not executed yet.
	Transition, Creating bool
	// Enforced reports the SFU forwards only DAVE frames and silence.
	Enforced bool
}

// DAVEState returns the DAVE state of a voice channel, if it has members.
func (s *Server) DAVEState(guild, channel string) (DAVERoomState, bool) {
	s.daveMu.Lock()
	r := s.daveRooms[roomKey(guild, channel)]
	s.daveMu.Unlock()
	if r == nil {
		return DAVERoomState{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	info := r.ss.DebugInfo()
	st := DAVERoomState{ProtocolVersion: r.ss.ProtocolVersion(), Epoch: r.ss.Epoch(), Creating: r.creating}
	st.Established, _ = info["established"].(bool)
	st.Users, _ = info["users"].([]uint64)
	st.GroupUsers, _ = info["group_users"].([]uint64)
	st.Proposals, _ = info["live_proposals"].(int)
	_, st.Transition = r.ss.NextDeadline()
	st.Enforced = st.ProtocolVersion == 1 && !r.creating && st.Epoch > 0
	return st, true
}

func without(users []uint64, u uint64) []uint64 {
	out := users[:0]
	for _, x := range users {
		if x != u {
			out = append(out, x)
		}
	}
	return out
}

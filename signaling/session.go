package signaling

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/e2ee/dave"
	"github.com/parleyhq/parley/internal/voicectl"
	"github.com/parleyhq/parley/voiceproto"
)

// session is one authenticated voice session. It outlives its connection
// for ResumeWindow so that a client can resume (op 7) without losing its
// media state, its sequence numbers or the messages sent meanwhile.
type session struct {
	srv                      *Server
	id, user, guild, channel string
	room                     string
	dialect                  voiceproto.Dialect
	media                    Participant
	// daveMax is the DAVE version this client may use (0 or 1; see
	// Server.daveMaxFor).
	daveMax uint16
	// dave is guarded by the mu of the session's daveRoom.
	dave daveSession
	// speaking holds the session's voiceproto.SpeakingFlags; atomic so
	// that another session's writer may read it under its own mu.
	speaking atomic.Int64
	// video is the session's video signalling state (video.go).
	video sessionVideo
	// left is set when the session ends, before its room is told: a
	// member does not announce a peer that left (session.announce).
	left        atomic.Bool
	mu          sync.Mutex // guards all following fields
	conn        *conn      // nil while detached
	seq         int64      // last numbered message (v8)
	replay      []replayed // ring of numbered messages
	replayNext  int
	ann         announcements // news about the room owed to this session
	mode        string
	detachTimer *time.Timer
	ended       bool
}

type replayed struct {
	seq int64
	msg outFrame
}

// send encodes and queues a message for the session's connection; in v8 it
// numbers the message and keeps it for re-delivery on resume.
func (ss *session) send(op voiceproto.Op, d any) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	f, ok := ss.frameLocked(op, d)
	if ok && ss.conn != nil {
		ss.conn.enqueue(f)
	}
}

// frameLocked encodes a message; in v8 it numbers it and keeps it for
// re-delivery on resume. The caller must write the frame after every
// frame numbered before it.
func (ss *session) frameLocked(op voiceproto.Op, d any) (outFrame, bool) {
	v8 := ss.dialect == voiceproto.DialectV8 && op.Numbered()
	if p, ok := d.(voiceproto.PeerSpeaking); ok && op == voiceproto.OpSpeaking {
		var seq int64
		if v8 {
			seq = ss.seq + 1
		}
		if b, ok := appendSpeaking(make([]byte, 0, 128), p, seq); ok {
			f := outFrame{data: b}
			if v8 {
				ss.seq++
				ss.keepLocked(f)
			}
			return f, true
		}
	}
	out := voiceproto.Message{Op: op, D: d}
	if v8 {
		out = voiceproto.NumberedMessage(op, d, ss.seq+1)
	}
	b, err := json.Marshal(out)
	if err != nil {
		ss.srv.log.Error("encode", "op", op.String(), "err", err)
		return outFrame{}, false
	}
	f := outFrame{data: b}
	if v8 {
		ss.seq++
		ss.keepLocked(f)
	}
	return f, true
}

// announce owes the session what (pendConnect, pendSpeak) about peer p
// and nudges its writer.
func (ss *session) announce(p *session, what uint8) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || p.left.Load() {
		return
	}
	ss.ann.mark(p, what)
	ss.wakeLocked()
}

// announceLeave tells the session that peer p left (op 13) if tell, and
// drops what was still owed about p.
func (ss *session) announceLeave(p *session, tell bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	ss.ann.leave(p, tell)
	ss.wakeLocked()
}

// wakeLocked nudges the writer of the session's connection.
func (ss *session) wakeLocked() {
	if ss.conn == nil {
		return
	}
	select {
	case ss.conn.wake <- struct{}{}:
	default:
	}
}

// nextAnnouncement encodes the next announcement owed to the session for
// its writer c, once nothing numbered before it waits in c's queues (so
// v8 sequence numbers go out in order).
func (ss *session) nextAnnouncement(c *conn) (outFrame, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended || ss.conn != c || len(c.out) > 0 || c.backlogged() {
		return outFrame{}, false
	}
	for {
		op, d, ok := ss.ann.next(ss.dialect)
		if !ok {
			return outFrame{}, false
		}
		if f, ok := ss.frameLocked(op, d); ok {
			return f, true
		}
	}
}

// sendBinary queues a DAVE binary frame (ops 25, 27, 29, 30: u16 seq ‖ op
// ‖ payload, dave.md §3). Binary frames share the session's v8 sequence:
// @discordjs/voice takes each frame's u16 seq as its seq_ack, so they are
// numbered, kept and replayed on resume like JSON messages
// (voice-protocol.md §2.5). DAVE is only negotiated on v8.
func (ss *session) sendBinary(m dave.BinaryMessage) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return
	}
	// DAVE clients check proposals and commits against the users op 11
	// and op 13 told them of: membership news goes first (a few op 11s
	// for a room of 1,000), not after the frame.
	for {
		op, d, ok := ss.ann.nextMembership()
		if !ok {
			break
		}
		if f, ok := ss.frameLocked(op, d); ok && ss.conn != nil {
			ss.conn.enqueue(f)
		}
	}
	b, err := dave.AppendServerFrame(nil, uint16(ss.seq+1), m)
	if err != nil {
		ss.srv.log.Error("encode", "op", m.Opcode().String(), "err", err)
		return
	}
	ss.seq++
	f := outFrame{data: b, binary: true}
	ss.keepLocked(f)
	if ss.conn != nil {
		ss.conn.enqueue(f)
	}
}

// keepLocked stores numbered message ss.seq for resume.
func (ss *session) keepLocked(f outFrame) {
	r := replayed{seq: ss.seq, msg: f}
	if len(ss.replay) < ss.srv.cfg.ReplayBuffer {
		ss.replay = append(ss.replay, r)
	} else {
		ss.replay[ss.replayNext] = r
		ss.replayNext = (ss.replayNext + 1) % len(ss.replay)
	}
}

// unwrapSeqAck maps a client's seq_ack onto the session's sequence: after
// a binary frame a client acks its 16-bit seq, so an ack below 2^16 is
// read as the latest sequence number with those low 16 bits.
func unwrapSeqAck(ack, last int64) int64 {
	if ack < 0 || ack >= 1<<16 || last < 1<<16 || last-ack < 1<<16 {
		return ack
	}
	v := last&^0xFFFF | ack
	if v > last {
		v -= 1 << 16
	}
	return v
}

// attach binds a connection, replaying numbered messages after seqAck
// (v8). It returns the connection it replaced, if any.
func (ss *session) attach(c *conn, seqAck int64, replay bool) (old *conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	old, ss.conn = ss.conn, c
	c.announcer.Store(ss)
	ss.wakeLocked() // for the announcements owed while detached
	if ss.detachTimer != nil {
		ss.detachTimer.Stop()
		ss.detachTimer = nil
	}
	if replay {
		seqAck = unwrapSeqAck(seqAck, ss.seq)
		n := len(ss.replay)
		var missed []outFrame
		for i := 0; i < n; i++ {
			r := ss.replay[(ss.replayNext+i)%n]
			if r.seq > seqAck {
				missed = append(missed, r.msg)
			}
		}
		c.enqueueBacklog(missed)
	}
	return old
}

// detach unbinds c and starts the resume window.
func (ss *session) detach(c *conn) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.conn != c || ss.ended {
		return
	}
	ss.conn = nil
	ss.detachTimer = time.AfterFunc(ss.srv.cfg.ResumeWindow, func() {
		ss.mu.Lock()
		expired := ss.conn == nil
		ss.mu.Unlock()
		if expired {
			ss.srv.endSession(ss)
		}
	})
}

// kick closes the session's connection with code.
func (ss *session) kick(code voiceproto.CloseCode, reason string) {
	ss.mu.Lock()
	c := ss.conn
	ss.mu.Unlock()
	if c != nil {
		c.terminate(code, reason)
	}
}

// end releases the media; the caller has removed ss from the server.
func (ss *session) end() {
	ss.mu.Lock()
	if ss.ended {
		ss.mu.Unlock()
		return
	}
	ss.ended = true
	ss.left.Store(true)
	ss.ann = announcements{}
	if ss.detachTimer != nil {
		ss.detachTimer.Stop()
	}
	ss.mu.Unlock()
	ss.media.Leave()
}

func (ss *session) setSpeaking(flags voiceproto.SpeakingFlags) {
	ss.speaking.Store(int64(flags))
}

// speakingFor is this session's op 5 for a receiver of dialect to.
func (ss *session) speakingFor(to voiceproto.Dialect) voiceproto.PeerSpeaking {
	f := voiceproto.SpeakingFlags(ss.speaking.Load())
	return voiceproto.PeerSpeaking{UserID: voiceproto.ID(ss.user), SSRC: ss.media.SSRC(), Speaking: f,
		Legacy: to == voiceproto.DialectLegacy}
}

func (ss *session) describe() voicectl.Participant {
	ss.mu.Lock()
	mode := ss.mode
	ss.mu.Unlock()
	return voicectl.Participant{
		GuildID: ss.guild, ChannelID: ss.channel, UserID: ss.user,
		SSRC: ss.media.SSRC(), Mode: mode,
		Mute: ss.media.ServerMute(), Deaf: ss.media.ServerDeaf(),
	}
}
